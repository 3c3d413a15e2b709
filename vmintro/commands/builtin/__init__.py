"""The built-in commands, one module each; the registry imports them on first use."""

MODULES = (
    "help",
    "kmem",
    "list",
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
