"""The built-in commands, one module each; the registry imports them on first use."""

MODULES = (
    "check",
    "help",
    "kmem",
    "list",
    "map",
    "p",
    "page",
    "plugins",
    "ptov",
    "ptype",
    "quit",
    "rd",
    "set",
    "struct",
    "sym",
    "vmlist",
    "vtop",
    "whatis",
)
