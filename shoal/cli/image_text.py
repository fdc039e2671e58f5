"""What `shoal image` prints (pure): docker's columns and sizes, the per-node progress lines."""
from __future__ import annotations

from datetime import datetime, timezone


def human_size(n: int) -> str:
    """docker's units (go-units HumanSize: decimal, 3 significant digits): 4.26MB, 1.2GB, 512B."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.3g}{unit}"
        value /= 1000
    return f"{n}B"


def ago(created: str, now: datetime | None = None) -> str:
    """docker's CREATED column: "3 days ago", "About an hour ago"."""
    if not created:
        return "N/A"
    try:
        then = datetime.fromisoformat(created)
    except ValueError:
        return "N/A"
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - then).total_seconds()))
    for limit, size, unit in ((60, 1, "second"), (3600, 60, "minute"), (172800, 3600, "hour"),
                              (1209600, 86400, "day"), (5259600, 604800, "week"), (63115200, 2629800, "month")):
        if seconds < limit:
            n = seconds // size
            if unit == "second" and n < 1:
                return "Less than a second ago"
            if unit == "hour" and n == 1:
                return "About an hour ago"
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return f"{seconds // 31557600} years ago"


def split_tag(repo_tag: str) -> tuple[str, str]:
    repo, sep, tag = repo_tag.rpartition(":")
    if not sep or "/" in tag:
        return repo_tag, "<none>"
    return repo, tag


def image_rows(images) -> list[list[str]]:
    """One row per image and tag, with the nodes that hold it (images grouped across nodes by id)."""
    groups: dict[tuple[str, str], dict] = {}
    for i in images:
        tags = list(i.repo_tags) or ["<none>:<none>"]
        for t in tags:
            g = groups.setdefault((i.id, t), {"image": i, "nodes": set()})
            g["nodes"].add(i.node_name)
    rows = []
    for (image_id, tag), g in sorted(groups.items(), key=lambda kv: (kv[0][1] == "<none>:<none>", kv[0][1], kv[0][0])):
        repo, t = split_tag(tag) if tag != "<none>:<none>" else ("<none>", "<none>")
        short = image_id.split(":", 1)[-1][:12]
        i = g["image"]
        rows.append([repo, t, short, ago(i.created), human_size(i.size_bytes), ",".join(sorted(g["nodes"]))])
    return rows


def progress_line(event) -> str | None:
    """The line a node's progress event prints, or None for the layer-by-layer noise: one line per
    node as it finishes (or an engine's own "Loaded image" line)."""
    node = event.node_name or event.node_id or "?"
    if event.error:
        return f"{node}: error: {event.error}"
    if event.status.startswith("Loaded image"):
        return f"{node}: {event.status}"
    if event.done:
        return f"{node}: {event.status or 'done'}"
    return None
