"""Guest code coverage: which source lines ran, from the emu's block counts.

The emu counts how many times each decoded block [start, end) of guest code
was entered (Machine.coverage_on / Machine.coverage), and, for a block left
part-way (a fault, a trap, the guest's exit), takes one off the range from
the instruction that did not run to the block's end.  So an instruction's
count is the sum of the counts of the ranges that hold it.  The DWARF line table of the
image (built with `hv cc -g`) maps instruction addresses to source lines; a
line's count is the largest count of its instructions.

Branch coverage comes from the conditional jumps (Jcc) that end blocks: the
emu counts how often each jumped and fell through (Machine.coverage_branches),
and the report gives both outcomes of each, on the line of the jump.

Counts are kept per image (its path) as blocks, so that runs of the same
image merge by adding, across tests and across pytest-xdist workers (one data
file each, merged at the end), before anything is mapped to lines.

    data = Data()
    data.add(image_path, machine.coverage())
    data.save("run.hvcov.json")
    write_report(Data.load_all(paths), "covdir")   # covdir/coverage.info, index.html

"""

from __future__ import annotations

import bisect
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

FORMAT = "hv-coverage-1"

Block = tuple[int, int]                 # [start, end) guest EIPs
FileLines = dict[str, dict[int, int]]   # source path -> line -> count
# source path -> line -> [(jump eip, times it jumped, times it fell through)]
FileBranches = dict[str, dict[int, list[tuple[int, int, int]]]]


@dataclass
class Data:
    """Block counts per image path."""

    images: dict[str, Counter[Block]] = field(default_factory=dict)
    # image -> (jump eip, 0 jumped / 1 fell through) -> count
    branches: dict[str, Counter[tuple[int, int]]] = field(default_factory=dict)

    def add(self, image: str | os.PathLike[str],
            blocks: Iterable[tuple[int, int, int]]) -> None:
        counts = self.images.setdefault(os.path.abspath(image), Counter())
        for start, end, count in blocks:
            counts[(start, end)] += count

    def add_branches(self, image: str | os.PathLike[str],
                     jumps: Iterable[tuple[int, int, int]]) -> None:
        counts = self.branches.setdefault(os.path.abspath(image), Counter())
        for eip, taken, not_taken in jumps:
            counts[(eip, 0)] += taken
            counts[(eip, 1)] += not_taken

    def merge(self, other: Data) -> None:
        for image, counts in other.images.items():
            self.images.setdefault(image, Counter()).update(counts)
        for image, counts in other.branches.items():
            self.branches.setdefault(image, Counter()).update(counts)

    def to_json(self) -> dict:
        return {"format": FORMAT,
                "images": {image: [[s, e, n] for (s, e), n in sorted(counts.items())]
                           for image, counts in self.images.items()},
                "branches": {image: [[eip, counts[(eip, 0)], counts[(eip, 1)]]
                                     for eip in sorted({eip for eip, _ in counts})]
                             for image, counts in self.branches.items()}}

    @classmethod
    def from_json(cls, obj: Mapping) -> Data:
        if obj.get("format") != FORMAT:
            raise ValueError(f"not hv coverage data (format {obj.get('format')!r})")
        data = cls()
        for image, blocks in obj["images"].items():
            data.add(image, blocks)
        for image, jumps in obj.get("branches", {}).items():
            data.add_branches(image, jumps)
        return data

    def save(self, path: str | os.PathLike[str]) -> None:
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(self.to_json()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Data:
        return cls.from_json(json.loads(Path(path).read_text()))

    @classmethod
    def load_all(cls, paths: Iterable[str | os.PathLike[str]]) -> Data:
        data = cls()
        for path in paths:
            data.merge(cls.load(path))
        return data


# ---- the DWARF line table ----

def line_table(image: str | os.PathLike[str]) -> list[tuple[int, str, int]]:
    """(address, source path, line) of every row of the image's line table."""
    rows = []
    with open(image, "rb") as f:
        elf = ELFFile(f)
        if not elf.has_dwarf_info():
            return rows
        dwarf = elf.get_dwarf_info()
        for cu in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(cu)
            if program is None:
                continue
            names = _file_names(program, cu)
            for entry in program.get_entries():
                state = entry.state
                if state is None or state.end_sequence or state.line <= 0:
                    continue
                name = names.get(state.file)
                if name is not None:
                    rows.append((state.address, name, state.line))
    return rows


def without_lines(data: Data) -> list[str]:
    """The images of data that have no DWARF line table (not built with -g)."""
    missing = []
    for image in sorted(data.images):
        try:
            with open(image, "rb") as f:
                if ELFFile(f).get_section_by_name(".debug_line") is None:
                    missing.append(image)
        except OSError:
            missing.append(image)
    return missing


def _file_names(program, cu) -> dict[int, str]:
    """The line program's file numbers -> absolute paths (DWARF 2 to 5)."""
    top = cu.get_top_DIE()
    comp_dir = _text(top.attributes["DW_AT_comp_dir"].value) if "DW_AT_comp_dir" in \
        top.attributes else ""
    v5 = program.header.version >= 5
    dirs = [_text(d) for d in program.header.include_directory]
    if not v5:
        dirs = [comp_dir] + dirs        # directory 0 is the compilation's
    names = {}
    for k, entry in enumerate(program.header.file_entry):
        index = k if v5 else k + 1      # DWARF 5 numbers files from 0
        directory = dirs[entry.dir_index] if entry.dir_index < len(dirs) else ""
        path = os.path.join(comp_dir, directory, _text(entry.name))
        names[index] = os.path.normpath(path)
    return names


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def line_counts(image: str | os.PathLike[str], blocks: Mapping[Block, int]) -> FileLines:
    """Every line of the image's line table, with how often it ran (0: never)."""
    # Instruction counts by address: a sweep over the block boundaries.
    delta: Counter[int] = Counter()
    for (start, end), count in blocks.items():
        delta[start] += count
        delta[end] -= count
    marks = sorted(delta)
    running, totals = 0, []
    for addr in marks:
        running += delta[addr]
        totals.append(running)
    lines: FileLines = {}
    for addr, name, line in line_table(image):
        k = bisect.bisect_right(marks, addr) - 1
        count = max(totals[k], 0) if k >= 0 else 0
        per_file = lines.setdefault(name, {})
        per_file[line] = max(per_file.get(line, 0), count)
    return lines


def branch_lines(image: str | os.PathLike[str],
                 counts: Mapping[tuple[int, int], int]) -> FileBranches:
    """The image's conditional jumps by the source line they belong to."""
    rows = sorted(line_table(image))
    addrs = [addr for addr, _, _ in rows]
    out: FileBranches = {}
    for eip in sorted({eip for eip, _ in counts}):
        k = bisect.bisect_right(addrs, eip) - 1
        if k < 0:
            continue
        _, name, line = rows[k]
        out.setdefault(name, {}).setdefault(line, []).append(
            (eip, counts.get((eip, 0), 0), counts.get((eip, 1), 0)))
    return out


def all_branches(data: Data) -> FileBranches:
    """The branches of every image, by source file and line."""
    merged: FileBranches = {}
    for image, counts in sorted(data.branches.items()):
        for name, per_line in branch_lines(image, counts).items():
            for line, jumps in per_line.items():
                merged.setdefault(name, {}).setdefault(line, []).extend(jumps)
    return merged


def all_lines(data: Data) -> FileLines:
    """The line counts of every image, added up per source file."""
    merged: FileLines = {}
    for image, blocks in sorted(data.images.items()):
        for name, counts in line_counts(image, blocks).items():
            per_file = merged.setdefault(name, {})
            for line, count in counts.items():
                per_file[line] = per_file.get(line, 0) + count
    return merged


# ---- reports ----

def write_lcov(lines: FileLines, path: str | os.PathLike[str], test_name: str = "",
               branches: FileBranches | None = None) -> None:
    """lcov's tracefile: DA per line; BRDA per jump (branch 0 jumped, 1 fell through)."""
    out = []
    for name in sorted(lines):
        counts = lines[name]
        out.append(f"TN:{test_name}")
        out.append(f"SF:{name}")
        jumps = (branches or {}).get(name, {})
        outcomes = []
        for line in sorted(jumps):
            for block, (_, taken, not_taken) in enumerate(jumps[line]):
                outcomes.append(f"BRDA:{line},{block},0,{taken}")
                outcomes.append(f"BRDA:{line},{block},1,{not_taken}")
        if outcomes:
            out.extend(outcomes)
            out.append(f"BRF:{len(outcomes)}")
            out.append(f"BRH:{sum(1 for o in outcomes if not o.endswith(',0'))}")
        out.extend(f"DA:{line},{counts[line]}" for line in sorted(counts))
        out.append(f"LF:{len(counts)}")
        out.append(f"LH:{sum(1 for n in counts.values() if n)}")
        out.append("end_of_record")
    Path(path).write_text("\n".join(out) + "\n")


def read_lcov(path: str | os.PathLike[str]) -> FileLines:
    """What write_lcov wrote (DA records only)."""
    lines: FileLines = {}
    current: dict[int, int] = {}
    for text in Path(path).read_text().splitlines():
        if text.startswith("SF:"):
            current = lines.setdefault(text[3:], {})
        elif text.startswith("DA:"):
            line, count = text[3:].split(",")[:2]
            current[int(line)] = current.get(int(line), 0) + int(count)
    return lines


_INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>hv coverage</title><style>{{ css }}</style></head>
<body><h1>hv coverage</h1>
<p>{{ hit }} of {{ total }} lines run ({{ "%.1f" % pct }}%)</p>
<table><tr><th>file</th><th>lines run</th><th>%</th></tr>
{% for f in files %}<tr><td><a href="{{ f.page }}">{{ f.name }}</a></td>
<td>{{ f.hit }} / {{ f.total }}</td><td>{{ "%.1f" % f.pct }}</td></tr>
{% endfor %}</table></body></html>
"""

_FILE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ name }}</title><style>{{ css }}</style></head>
<body><h1>{{ name }}</h1><p><a href="index.html">all files</a>:
{{ hit }} of {{ total }} lines run</p>
<table class="src">
{% for r in rows %}<tr class="{{ r.cls }}"><td class="n">{{ r.no }}</td>
<td class="n">{{ r.count }}</td><td class="b">{{ r.branches }}</td>
<td><pre>{{ r.text }}</pre></td></tr>
{% endfor %}</table></body></html>
"""

_CSS = ("body{font-family:sans-serif} td{padding:0 .5em} pre{margin:0} "
        "td.n{text-align:right;color:#555} td.b{color:#555;font-size:small} "
        "tr.hit{background:#dfd} tr.miss{background:#fdd} tr.part{background:#ffd}")


def write_html(lines: FileLines, directory: str | os.PathLike[str],
               branches: FileBranches | None = None) -> Path:
    """One page per source file (each line with its count) and index.html."""
    import jinja2

    env = jinja2.Environment(autoescape=True)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for k, name in enumerate(sorted(lines)):
        counts = lines[name]
        jumps = (branches or {}).get(name, {})
        page = f"file{k}.html"
        try:
            source = Path(name).read_text(errors="replace").splitlines()
        except OSError:
            source = [""] * max(counts, default=0)
        rows = []
        for no, text in enumerate(source, 1):
            count = counts.get(no)
            cls = "" if count is None else "hit" if count else "miss"
            said = " ".join(f"jumped {t}, fell through {n}" for _, t, n in jumps.get(no, []))
            if jumps.get(no) and any(not t or not n for _, t, n in jumps[no]):
                cls = "part" if count else cls      # a branch went one way only
            rows.append({"no": no, "count": "" if count is None else count,
                         "cls": cls, "branches": said, "text": text})
        hit = sum(1 for n in counts.values() if n)
        (out / page).write_text(env.from_string(_FILE).render(
            name=name, rows=rows, hit=hit, total=len(counts), css=_CSS))
        files.append({"name": name, "page": page, "hit": hit, "total": len(counts),
                      "pct": 100.0 * hit / len(counts) if counts else 100.0})
    hit = sum(f["hit"] for f in files)
    total = sum(f["total"] for f in files)
    index = out / "index.html"
    index.write_text(env.from_string(_INDEX).render(
        files=files, hit=hit, total=total, pct=100.0 * hit / total if total else 100.0,
        css=_CSS))
    return index


def write_report(data: Data, directory: str | os.PathLike[str]) -> FileLines:
    """DIR/coverage.info (lcov), DIR/index.html and its pages, DIR/coverage.json (blocks)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    lines = all_lines(data)
    branches = all_branches(data)
    data.save(out / "coverage.json")
    write_lcov(lines, out / "coverage.info", branches=branches)
    write_html(lines, out, branches)
    return lines


# ---- the session's collector (hv run --coverage, pytest --hv-cov) ----

_collector: Data | None = None


def start() -> Data:
    """From now on, every Guest.run in this process counts into the returned Data."""
    global _collector
    if _collector is None:
        _collector = Data()
    return _collector


def collector() -> Data | None:
    return _collector


def stop() -> Data | None:
    global _collector
    data, _collector = _collector, None
    return data
