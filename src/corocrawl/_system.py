"""What the operating system allows a process that holds thousands of sockets."""

from __future__ import annotations

import warnings

__all__ = ["ensure_open_files"]

# Files the process needs besides its sockets: the interpreter, outputs, the DNS resolver.
_HEADROOM = 64


def ensure_open_files(sockets: int) -> int:
    """Raise the open-files soft limit towards the hard limit so `sockets` can be open at once.

    Returns the limit now in force; warns when even the hard limit is too low.
    """
    try:
        import resource
    except ImportError:  # not on this platform (Windows): nothing to raise
        return sockets + _HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + _HEADROOM
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        warnings.warn(
            f"concurrency {sockets} needs about {wanted} open files but this process may open "
            f"{soft}; expect 'Too many open files' errors (raise the limit with ulimit -n)",
            RuntimeWarning,
            stacklevel=3,
        )
    return soft
