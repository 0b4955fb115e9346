"""How `bash -c` splits the command KubeRay generates (word splitting and quote removal)."""

from __future__ import annotations

import shlex


def bash_words(command: str) -> list[str]:
    """The argv bash builds from one simple command, after quote removal.

    shlex in POSIX mode follows the same quoting rules as bash for the forms
    KubeRay emits (single quotes, double quotes with backslash escapes, bare
    words); expansions ($VAR) are left as written.
    """
    return shlex.split(command, comments=False, posix=True)


def split_commands(script: str) -> list[str]:
    """Split a `a; b && c` script into its simple commands (outside quotes)."""
    out: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(script):
        ch = script[i]
        if quote:
            current.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < len(script):
                current.append(script[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == ";" or script.startswith("&&", i):
            out.append("".join(current).strip())
            current = []
            i += 1 if ch == "&" else 0
        else:
            current.append(ch)
        i += 1
    out.append("".join(current).strip())
    return [c for c in out if c]


def survives_as_one_word(value: str) -> bool:
    """True when `--key=value` stays a single argument through bash."""
    try:
        return len(bash_words(f"--k={value}")) == 1
    except ValueError:
        return False


def value_after_bash(value: str) -> str | None:
    """What `ray start` receives for `--key=value`, or None when bash breaks it."""
    try:
        words = bash_words(f"--k={value}")
    except ValueError:
        return None
    return words[0][len("--k="):] if len(words) == 1 else None
