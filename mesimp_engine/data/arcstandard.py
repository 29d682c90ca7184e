"""The arc-standard transition system (Nivre 2004, as used by Chen & Manning 2014), its static
oracle, and a projectivity check.

A configuration has a stack (starting with the artificial ROOT, token 0), a buffer of the
words 1..n, and the arcs built so far. With s0 the top of the stack and s1 the one below:

- SHIFT: move the first buffer word onto the stack. Legal while the buffer is not empty.
- LEFT-ARC(l): add the arc s0 -l-> s1 and pop s1. Legal when the stack holds two items and
  s1 is not ROOT.
- RIGHT-ARC(l): add the arc s1 -l-> s0 and pop s0. Legal when the stack holds two items and,
  if s1 is ROOT, the buffer is empty (so ROOT gets exactly one dependent and every complete
  parse is a tree with one root).

Transition ids, for L labels indexed 0..L-1 (label index l = parser label vocabulary id minus
the 3 specials, see ``vocab.PARSER_SPECIALS``):
``SHIFT = 0``, ``LEFT-ARC(l) = 1 + l``, ``RIGHT-ARC(l) = 1 + L + l``; n_transitions = 2 L + 1.
A sentence of n words is parsed in exactly 2 n transitions.
"""

import numpy as np

SHIFT = 0
KIND_SHIFT, KIND_LEFT, KIND_RIGHT = 0, 1, 2


def n_transitions(n_labels):
    """Number of transition ids for ``n_labels`` labels: 2 * n_labels + 1."""
    return 2 * n_labels + 1


def left_arc(label, n_labels):
    """Transition id of LEFT-ARC(label)."""
    return 1 + label


def right_arc(label, n_labels):
    """Transition id of RIGHT-ARC(label)."""
    return 1 + n_labels + label


def transition_kind(transition, n_labels):
    """(kind, label) of a transition id: kind is KIND_SHIFT (label -1), KIND_LEFT or KIND_RIGHT."""
    if transition == SHIFT:
        return KIND_SHIFT, -1
    if 1 <= transition <= n_labels:
        return KIND_LEFT, transition - 1
    if n_labels < transition <= 2 * n_labels:
        return KIND_RIGHT, transition - 1 - n_labels
    raise ValueError(f"transition id {transition} outside 0..{2 * n_labels}")


class Configuration:
    """A parser state for a sentence of ``n_words`` words and ``n_labels`` arc labels.

    stack: list of token indices (0 = ROOT), top last. next_word: first buffer word
    (buffer = next_word..n_words). heads, labels: lists (n_words + 1,), -1 until attached.
    left_children[h] / right_children[h]: dependents of h in the order attached, which is
    nearest first for left and nearest first for right, so the leftmost left child and the
    rightmost right child are the last entries.
    """

    def __init__(self, n_words, n_labels):
        self.n_words = n_words
        self.n_labels = n_labels
        self.stack = [0]
        self.next_word = 1
        self.heads = [-1] * (n_words + 1)
        self.labels = [-1] * (n_words + 1)
        self.left_children = [[] for _ in range(n_words + 1)]
        self.right_children = [[] for _ in range(n_words + 1)]

    def is_terminal(self):
        """True when the buffer is empty and only ROOT is on the stack."""
        return self.next_word > self.n_words and len(self.stack) == 1

    def can_shift(self):
        return self.next_word <= self.n_words

    def can_left(self):
        return len(self.stack) > 2

    def can_right(self):
        return len(self.stack) > 2 or (len(self.stack) == 2 and self.next_word > self.n_words)

    def legal_mask(self):
        """bool array (n_transitions,): True for each transition legal in this state."""
        n_labels = self.n_labels
        mask = np.zeros(2 * n_labels + 1, dtype=bool)
        mask[SHIFT] = self.can_shift()
        mask[1:1 + n_labels] = self.can_left()
        mask[1 + n_labels:] = self.can_right()
        return mask

    def apply(self, transition):
        """Apply a transition id in place; ValueError if it is not legal here."""
        kind, label = transition_kind(transition, self.n_labels)
        stack = self.stack
        if kind == KIND_SHIFT:
            if not self.can_shift():
                raise ValueError("SHIFT with an empty buffer")
            stack.append(self.next_word)
            self.next_word += 1
        elif kind == KIND_LEFT:
            if not self.can_left():
                raise ValueError(f"LEFT-ARC with stack {stack}")
            dependent = stack.pop(-2)
            head = stack[-1]
            self.heads[dependent] = head
            self.labels[dependent] = label
            self.left_children[head].append(dependent)
        else:
            if not self.can_right():
                raise ValueError(f"RIGHT-ARC with stack {stack} and next word {self.next_word}")
            dependent = stack.pop()
            head = stack[-1]
            self.heads[dependent] = head
            self.labels[dependent] = label
            self.right_children[head].append(dependent)

    def heads_array(self):
        """int64 array (n_words,): head of each word 1..n (0 = ROOT, -1 = not attached)."""
        return np.asarray(self.heads[1:], dtype=np.int64)

    def labels_array(self):
        """int64 array (n_words,): label index of each word's arc (-1 = not attached)."""
        return np.asarray(self.labels[1:], dtype=np.int64)


class NonProjective(ValueError):
    """The static oracle met a state with no correct transition: the tree is not projective."""


def oracle(heads, labels, n_labels):
    """The static arc-standard oracle: the transition ids (int64 array (2 n,)) that build the
    gold tree. heads: (n,) gold heads of words 1..n (0 = ROOT); labels: (n,) label indices.

    Rule, in order: LEFT-ARC if s1 is a word whose gold head is s0; RIGHT-ARC if s0's gold
    head is s1 and all of s0's gold dependents are attached; otherwise SHIFT.
    Raises NonProjective when SHIFT is needed but the buffer is empty.
    """
    return np.asarray([t for t, _ in oracle_states(heads, labels, n_labels)], dtype=np.int64)


def oracle_states(heads, labels, n_labels):
    """Yield (transition id, configuration before it) along the oracle's path; the same
    Configuration object is updated in place after each yield."""
    n = len(heads)
    gold = [0] + [int(h) for h in heads]
    gold_labels = [-1] + [int(lab) for lab in labels]
    pending = [0] * (n + 1)
    for h in gold[1:]:
        pending[h] += 1
    config = Configuration(n, n_labels)
    stack = config.stack
    for _ in range(2 * n):
        if len(stack) > 2 and gold[stack[-2]] == stack[-1]:
            transition = 1 + gold_labels[stack[-2]]
            pending[stack[-1]] -= 1
        elif (len(stack) > 1 and gold[stack[-1]] == stack[-2] and pending[stack[-1]] == 0
              and (len(stack) > 2 or config.next_word > n)):
            transition = 1 + n_labels + gold_labels[stack[-1]]
            pending[stack[-2]] -= 1
        elif config.next_word <= n:
            transition = SHIFT
        else:
            raise NonProjective(f"no oracle transition with stack {stack}: tree not projective")
        yield transition, config
        config.apply(transition)


def is_projective(heads):
    """True when no two arcs cross, counting the arc from ROOT (token 0).

    heads: int array (n,), heads of words 1..n. Equivalent to: the static oracle succeeds.
    """
    heads = np.asarray(heads, dtype=np.int64)
    words = np.arange(1, len(heads) + 1)
    lo = np.minimum(heads, words)
    hi = np.maximum(heads, words)
    # arc a = (lo_a, hi_a) and arc b cross when lo_a < lo_b < hi_a < hi_b
    crossing = ((lo[:, None] < lo[None, :]) & (lo[None, :] < hi[:, None])
                & (hi[:, None] < hi[None, :]))
    return not crossing.any()


def parse_with(transitions, n_words, n_labels):
    """Run ``transitions`` from the initial state; returns (heads (n,), labels (n,)) int64."""
    config = Configuration(n_words, n_labels)
    for transition in transitions:
        config.apply(int(transition))
    return config.heads_array(), config.labels_array()
