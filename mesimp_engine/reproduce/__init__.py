"""``mesimp-engine reproduce``: run the rows of one of the papers' tables and set the
published numbers and ours side by side (``tables`` holds the papers' numbers, ``run`` the
runner and the Markdown and JSON it writes)."""
