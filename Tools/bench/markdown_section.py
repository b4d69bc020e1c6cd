"""Writes a generated section into a Markdown file between its begin/end markers: an older section
between the same markers is replaced, else the section is appended (the file is created when absent)."""
import os


def write_section(path: str, begin: str, end: str, section: str) -> None:
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
