"""Human amounts for scheduler explanations ("lack 512 MiB memory", "lack 1.5 CPUs")."""

NANO_CPUS_PER_CPU = 1_000_000_000
_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(n: int) -> str:
    """536870912 -> "512 MiB", 1610612736 -> "1.5 GiB", 1000 -> "1000 B"."""
    if -1024 < n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _BINARY_UNITS:
        value /= 1024
        # Decide on the rounded figure so 1048575 B reads "1 MiB", never "1024 KiB".
        if abs(round(value, 2)) < 1024 or unit == _BINARY_UNITS[-1]:
            break
    return f"{_two_decimals(value)} {unit}"


def format_cpus(nano: int) -> str:
    """1500000000 -> "1.5 CPUs", 1000000000 -> "1 CPU".

    Exact, not rounded: CPU requests are written as short decimals (--cpus 0.25),
    so the exact figure is what the user typed.
    """
    nano = int(nano)
    whole, frac = divmod(abs(nano), NANO_CPUS_PER_CPU)
    text = str(whole)
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    sign = "-" if nano < 0 else ""
    unit = "CPU" if abs(nano) == NANO_CPUS_PER_CPU else "CPUs"
    return f"{sign}{text} {unit}"


def _two_decimals(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
