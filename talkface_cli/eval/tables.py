"""The evaluation report as rich tables, Markdown and a LaTeX table, from the one dict `evaluate`
returns (so the printed table, report.json, report.md and report.tex always agree)."""

from __future__ import annotations

import math

from rich.table import Table

from ..ui import fmt, table


def _cells(values: dict, keys: list[str]) -> list[str]:
    return [
        "-" if (v := values.get(k)) is None or (isinstance(v, float) and math.isnan(v)) else fmt(v)
        for k in keys
    ]


def main_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    keys = list(report["columns"])
    head = ["method"] + [report["columns"][k] for k in keys]
    return head, [[name, *_cells(report["table"][name], keys)] for name in report["rows"]]


# Which way a column's best lies, for report.tex's bold: the others' lowest is best.
BETTER = {"lse_c": "highest", "emotion_acc": "highest", "rtf": "highest", "fdd": "nearest 0"}
_TEX = {c: "\\" + c for c in "&%$#_{}"} | {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\^{}"}
_TEX["²"] = r"$^2$"  # the squared LVE's unit, in any LaTeX


def _best(table: dict, rows: list[str], key: str) -> str | None:
    """The row with the best value of `key` (BETTER), among `rows` that have one."""
    scored = [(v, r) for r in rows if isinstance(v := table[r].get(key), (int, float)) and not math.isnan(v)]
    if not scored:
        return None
    way = BETTER.get(key, "lowest")
    rank = {"highest": lambda x: -x[0], "nearest 0": lambda x: abs(x[0])}.get(way, lambda x: x[0])
    return min(scored, key=rank)[1]


def latex(report: dict) -> str:
    """The main table as a LaTeX tabular (booktabs), each column's best contender in bold (the
    ground truth's rows are what a method is measured against, not contenders), a rule before the
    baselines, for a paper's table."""
    head, rows = main_rows(report)
    keys, names = list(report["columns"]), report["rows"]
    best = [_best(report["table"], [n for n in names if n not in report["references"]], k) for k in keys]
    tex = lambda text: "".join(_TEX.get(ch, ch) for ch in str(text))  # noqa: E731
    lines = [rf"\begin{{tabular}}{{l{'r' * len(keys)}}}", r"\toprule", " & ".join(map(tex, head)) + r" \\"]
    first = next(n for n in names if n in report["baselines"])
    for name, (_, *cells) in zip(names, rows):
        lines += [r"\midrule"] if name in (names[0], first) else []
        cells = [rf"\textbf{{{c}}}" if b == name else c for c, b in zip(cells, best)]
        lines.append(" & ".join([tex(name), *cells]) + r" \\")
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def caveats(report: dict) -> str:
    """What the scores can be trusted for: whether the clips are proven unseen by the models that
    made or read them, and which clips the emotion accuracy leaves out."""
    s = report["setup"]
    if s["split"] == "train":
        line = "The train split: not checked to be held out (asked for)."
    else:
        checked = s.get("held_out_checked", {})
        yes = [m for m, ok in checked.items() if ok]
        no = [m for m, ok in checked.items() if not ok]
        line = f"Held out: none of {', '.join(yes)} trained on these clips." if yes else ""
        if no:
            line += (
                f"{' ' if line else ''}Not checked for {', '.join(no)}: trained before models kept "
                "a record of their training clips."
            )
    why = [f"{n} carry no emotion label"] if (n := s.get("unlabelled_clips")) else []
    if s.get("emotions_unread"):
        why.append(f"no video centroid for {', '.join(s['emotions_unread'])} in {s['models'][0]}'s EDE")
    if why:
        read = f"{s['emotion_read_clips']} of {len(report['clips'])}"
        line += f" Emotion accuracy over {read} clips: {'; '.join(why)}."
    for name, mm in s.get("predictions_fit_mm", {}).items():
        line += (
            f" {name}: its vertices fitted to the face model's parameters, {mm:.2f} mm left on "
            "average (motion the model cannot express is not scored)."
        )
    return line.strip()


def rich_tables(report: dict) -> list[Table]:
    head, rows = main_rows(report)
    s = report["setup"]
    out = [table(f"{s['split']} split of {', '.join(s['data'])} - sync: {s['sync']}", head, rows)]
    keys = [k for k in report["columns"] if k not in ("ve_fid", "rtf")]
    if report.get("swap"):
        sw = report["swap"]
        out.append(table(f"{s['models'][0]}: emotion swaps", list(sw), [[fmt(v) for v in sw.values()]]))
    for by, groups in report["breakdown"].items():
        rows = [[g, vals["clips"], *_cells(vals, keys)] for g, vals in groups.items()]
        out.append(
            table(f"{s['models'][0]} per {by}", [by, "clips", *[report["columns"][k] for k in keys]], rows)
        )
    return out


def markdown(report: dict) -> str:
    def md(head: list, rows: list[list]) -> str:
        lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])

    s = report["setup"]
    parts = [
        f"# Evaluation: {', '.join(s['models'])}",
        "",
        f"Data: {', '.join(s['data'])}, split `{s['split']}`, {len(report['clips'])} clips. "
        f"Sync scores: {s['sync']}. VE-FID features: EDE video branch of `{s['emotion_features']}`. "
        f"Sampling temperature {s['temperature']}, seed {s['seed']}, device {s['device']}. "
        + caveats(report),
        "",
        f"talkface {s['code']}; weights (sha256): "
        + ", ".join(f"`{m}` {sha[:12]}" for m, sha in s["weights_sha256"].items())
        + ".",
        "",
        md(*main_rows(report)),
    ]
    keys = [k for k in report["columns"] if k not in ("ve_fid", "rtf")]
    if report.get("swap"):
        sw = report["swap"]
        parts += [
            "",
            f"## {s['models'][0]}: emotion swaps",
            "",
            md(list(sw), [[fmt(v) for v in sw.values()]]),
        ]
    for by, groups in report["breakdown"].items():
        rows = [[g, vals["clips"], *_cells(vals, keys)] for g, vals in groups.items()]
        parts += [
            "",
            f"## {s['models'][0]} per {by}",
            "",
            md([by, "clips", *[report["columns"][k] for k in keys]], rows),
        ]
    return "\n".join(parts) + "\n"
