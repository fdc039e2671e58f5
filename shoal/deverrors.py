"""The one error the dev cluster's modules raise, so that `shoal dev` catches a single type
whichever of them failed (a missing program, a daemon that never got ready, a teardown)."""


class DevClusterError(RuntimeError):
    """One line naming what failed and where its log is."""
