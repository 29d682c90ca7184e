"""``Module``: a tree of layers that owns parameters, with PyTorch's names."""

import contextlib

from mesimp_engine.parameter import Parameter


class Module:
    """Base of layers and models.

    Parameters and sub-modules assigned as attributes are registered in assignment order;
    ``parameters()`` / ``named_parameters()`` walk them depth first. A parameter's ``name``
    is its path from the outermost module it has been attached to (``hidden.0.weight``),
    so errors and checkpoints can name it. ``train()`` and ``eval()`` set ``training`` on
    the whole tree; ``with module.evaluating():`` runs a block in evaluation mode and then
    restores the mode it found.
    """

    def __init__(self):
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            self._params[name] = value
            value.name = name
        elif isinstance(value, Module):
            self._modules[name] = value
            for path, p in value.named_parameters():
                p.name = f"{name}.{path}"
        object.__setattr__(self, name, value)

    def add_module(self, name, module):
        setattr(self, name, module)
        return module

    def named_parameters(self, prefix=""):
        for name, p in self._params.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix=""):
        yield prefix.rstrip("."), self
        for name, m in self._modules.items():
            yield from m.named_modules(prefix + name + ".")

    def modules(self):
        return [m for _, m in self.named_modules()]

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    @contextlib.contextmanager
    def evaluating(self):
        training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(training)

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    def state_dict(self):
        """name -> array copy of every parameter's value."""
        return {name: p.value.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Set every parameter from ``state``; shapes may differ (a trimmed model)."""
        params = dict(self.named_parameters())
        missing = set(params) - set(state)
        if missing:
            raise KeyError(f"load_state_dict: missing parameters {sorted(missing)}")
        for name, p in params.items():
            p.replace(state[name].astype(p.dtype, copy=True))

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError


class Sequential(Module):
    """Modules applied one after another."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x
