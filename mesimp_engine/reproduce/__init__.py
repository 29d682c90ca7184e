"""``mesimp-engine reproduce``: run the rows of one of the papers' tables or figures and set
the published numbers and ours side by side (``tables``: the papers' numbers and the
scales; ``run``: the runner; ``render``: the Markdown table and the plot)."""
