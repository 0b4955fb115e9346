"""How `bash -c` splits the command KubeRay generates (word splitting and quote removal)."""

from __future__ import annotations


def bash_words(command: str) -> list[str]:
    """The argv bash builds from one simple command: word splitting, quote removal, comments.

    Follows bash for the forms KubeRay emits: single quotes keep everything;
    double quotes keep everything but a backslash before $ ` " \\ or a newline; an
    unquoted backslash escapes the next character; an unquoted word that starts
    with # begins a comment. Expansions ($VAR) are left as written.
    Raises ValueError on an unterminated quote.
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    i, n = 0, len(command)
    while i < n:
        ch = command[i]
        if ch in " \t\n":
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        elif ch == "#" and not in_word:
            break
        elif ch == "\\":
            in_word = True
            if i + 1 < n and command[i + 1] != "\n":
                current.append(command[i + 1])
            i += 1
        elif ch == "'":
            in_word = True
            close = command.find("'", i + 1)
            if close < 0:
                raise ValueError("No closing quotation")
            current.append(command[i + 1 : close])
            i = close
        elif ch == '"':
            in_word = True
            i += 1
            while i < n and command[i] != '"':
                if command[i] == "\\" and i + 1 < n and command[i + 1] in '$`"\\\n':
                    if command[i + 1] != "\n":
                        current.append(command[i + 1])
                    i += 2
                    continue
                current.append(command[i])
                i += 1
            if i >= n:
                raise ValueError("No closing quotation")
        else:
            in_word = True
            current.append(ch)
        i += 1
    if in_word:
        words.append("".join(current))
    return words


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
    return words[0][len("--k=") :] if len(words) == 1 else None
