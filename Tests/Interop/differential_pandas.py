#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Randomized differential test of `partd groupby/sort/distinct/join` against pandas.

For each seed it writes a random CSV (ints with negatives and values near 2^53 and 2^63, floats with NaN,
inf, -0.0 and exponents, strings with unicode, quotes, commas, line breaks and spaces, missing-value
spellings, True/False, a column that turns non-numeric in a late row, CRLF line ends sometimes, odd header
names), runs one partd command with random options (keys, aggregates, --sort, --keep, --kind, few or many
partitions, a small --memory so it spills, a small --chunk-rows) and the pandas equivalent, and compares
them: as multisets of rows unless the command promises an order, numbers with a tolerance. A mismatch is
shrunk (rows, then unused columns dropped while it still differs) and printed.

Differences documented on purpose are built into the reference rather than reported: null and NaN keys match
nothing in a join; groupby keeps the null key as a group (pandas' dropna=False); without --na only empty
fields are missing; an int column with nulls stays integer (compared as numbers); booleans are strings.

    python3 Tests/Interop/differential_pandas.py [--seeds N] [--start S] [--partd PATH] [--only CMD] [-v]

Exit status 1 if any seed differs.
"""
import argparse, io, math, os, random, subprocess, sys, tempfile

import warnings

import numpy as np
import pandas as pd

PANDAS_NA = ["#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
             "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]

ODD_NAMES = ["k", "key 2", "é", "naïve_名", "x\"q", "  pad ", "#", "a;b", "v.1", "ΣΣ", "col,comma"]


class Case:
    """One generated input and command."""

    def __init__(self, cmd, columns, rows, kinds, args, right=None, crlf=False, na=True):
        self.cmd, self.columns, self.rows, self.kinds = cmd, columns, rows, kinds
        self.args, self.right, self.crlf, self.na = args, right, crlf, na

    def describe(self):
        return f"{self.cmd} {' '.join(self.args)}" + (" (CRLF)" if self.crlf else "")


# ---------------------------------------------------------------- generation

def gen_value(rng, kind, na, late=False):
    r = rng.random()
    if kind == "lateuint":
        # No missing values: pandas reads a column of a missing value and an integer beyond Int64 as text, the
        # spelling kept as a string (even an empty field), where partd reads UInt64 with nulls (documented).
        r = 1.0
    if r < 0.08:
        return ""
    if na and r < 0.12:
        return rng.choice(["NA", "null", "NaN", "nan", "None", "N/A", '"NA"', "<NA>", "#N/A", "-nan"])
    if kind == "smallint":
        return str(rng.randint(-3, 4))
    if kind == "int":
        return str(rng.choice([rng.randint(-10**6, 10**6), 2**53 + rng.randint(-3, 3), -(2**53) + rng.randint(-3, 3),
                               2**63 - 1 - rng.randint(0, 5), -(2**63) + rng.randint(0, 5), 0, -1]))
    if kind == "smallfloat":
        return rng.choice(["0.5", "-0.0", "0.0", "1.5", "2", "-1.25", "1e1", "10.0"] + (["nan"] if na else []))
    if kind == "float":
        return rng.choice([repr(rng.uniform(-1000, 1000)), f"{rng.uniform(-9, 9):.3e}", "1e-300", "-2.5E+10",
                           "inf", "-inf", "-0.0", "0", str(rng.randint(-100, 100)), "3.0"]
                          + (["nan", "NaN"] if na else []))
    if kind == "smallstr":
        return rng.choice(["a", "b", "é", "ab", "A", "名前", "\"c,d\"", "x y"])
    if kind == "str":
        s = rng.choice(["plain", "ünï", "with,comma", "quote\"in", "line\nbreak", " lead", "trail ", "", "😀", "a\r\nb",
                        "-", "0x1A", "1_000"])
        s = s + str(rng.randint(0, 9))
        return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n\r') or rng.random() < 0.1 else s
    if kind == "bool":
        return rng.choice(["True", "False"])
    if kind == "late":
        return "oops" if late else str(rng.randint(0, 50))
    if kind == "latefloat":
        return "2.5" if late else str(rng.randint(-5, 50))
    if kind == "lateuint":
        return str(2**64 - 1 - rng.randint(0, 3)) if late else str(rng.randint(0, 50))
    if kind == "numform":
        return rng.choice(["+5", "1E5", ".5", "5.", "-.25", "1e-5", "007", "-0", "+0.0", "1e400", "-1e400", "4.9e-324",
                           "0.1", "0.30000000000000004", "123456789012345678", "1.7976931348623157e308"])
    if kind == "boolcase":
        return rng.choice(["True", "False", "TRUE", "true", "false"])
    if kind == "spacedint":
        v = str(rng.randint(0, 3))
        return rng.choice([v, " " + v, v + " "])
    raise ValueError(kind)


def gen_table(rng, nrows, kinds, na, names):
    rows = []
    late_row = nrows - 1 - rng.randint(0, 2) if nrows else -1
    for i in range(nrows):
        rows.append([gen_value(rng, k, na, late=(i == late_row)) for k in kinds])
    return rows


def quote_name(n):
    return '"' + n.replace('"', '""') + '"' if any(c in n for c in ',"\n\r') else n


def write_csv(path, columns, rows, crlf):
    eol = "\r\n" if crlf else "\n"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(quote_name(c) for c in columns) + eol)
        for row in rows:
            if len(row) == 1 and row[0] == "":
                f.write('""' + eol)
            else:
                f.write(",".join(row) + eol)


KEY_KINDS = ["smallint", "smallstr", "smallfloat", "bool", "spacedint"]
VALUE_KINDS = ["int", "float", "str", "late", "latefloat", "lateuint", "numform"]
NUMERIC_AGGS = ["sum", "mean", "min", "max", "count", "var", "std", "first", "last", "nunique", "median", "q0.25", "q0.9"]
STRING_AGGS = ["min", "max", "count", "first", "last", "nunique"]


def gen_case(seed, only=None):
    rng = random.Random(seed)
    cmd = only or rng.choice(["groupby", "sort", "distinct", "join"])
    na = rng.random() < 0.6
    ncols = rng.randint(2, 5)
    kinds = [rng.choice(KEY_KINDS) for _ in range(rng.randint(1, 2))]
    kinds += [rng.choice(VALUE_KINDS) for _ in range(ncols - len(kinds))]
    if not rng.random() < 0.2:
        kinds = [k for k in kinds if k != "spacedint"] or ["smallint"]
    names = rng.sample(ODD_NAMES, len(kinds))
    nrows = rng.choice([0, 1, 3, 10, 40, 150, 1500])
    rows = gen_table(rng, nrows, kinds, na, names)
    common = ["--partitions", str(rng.choice([1, 2, 7, 64, 300])), "--memory", rng.choice(["1kB", "8kB", "256MB"]),
              "--chunk-rows", str(rng.choice([1, 3, 17, 200000]))]
    if na:
        common += ["--na", "pandas"]
    # String columns as categories at times (a code path of their own in every command; pandas reads them as str).
    categories = [n for n, k in zip(names, kinds) if k in ("smallstr", "str") and ":" not in n and "," not in n
                  and rng.random() < 0.3]
    if categories:
        common += ["--types", ",".join(f"{n}:category" for n in categories)]
    nkeys = rng.choice([1, 1, 2])
    key_idx = rng.sample(range(len(kinds)), min(nkeys, len(kinds)))
    keys = [names[i] for i in key_idx]
    # A name with a comma is taken whole only alone; pair such keys no further.
    if len(keys) > 1 and any("," in k for k in keys):
        keys = keys[:1]
    args = []
    right = None
    if cmd == "groupby":
        aggs = []
        for i, (n, k) in enumerate(zip(names, kinds)):
            if n in keys or "," in n or ":" in n:
                continue
            pool = STRING_AGGS if k in ("str", "late", "bool", "smallstr", "spacedint") else NUMERIC_AGGS
            if k in ("int", "lateuint", "numform"):  # sums near 2^63 overflow (pandas and partd both wrap, differently per order)
                pool = [f for f in pool if f != "sum"]
            for f in rng.sample(pool, rng.randint(1, 3)):
                aggs.append(f"{f}:{n}")
        if rng.random() < 0.5 or not aggs:
            aggs.append("count")
        args = ["--by", ",".join(keys), "--agg", ",".join(aggs)] + (["--sort"] if rng.random() < 0.5 else [])
    elif cmd == "sort":
        args = ["--by", ",".join(k + (":desc" if rng.random() < 0.4 else "") for k in keys),
                "--sample-rows", str(rng.choice([5, 100000]))]
    elif cmd == "distinct":
        args = (["--by", ",".join(keys)] if rng.random() < 0.7 else []) + ["--keep", rng.choice(["first", "last", "none"])]
    elif cmd == "join":
        if any("," in k for k in keys):
            keys = [names[key_idx[0]]] if "," not in names[key_idx[0]] else ["k"]
            if keys == ["k"] and "k" not in names:
                names[key_idx[0]] = "k"
        rkinds = [kinds[names.index(k)] for k in keys] + [rng.choice(VALUE_KINDS) for _ in range(rng.randint(1, 2))]
        others = [n for n in ODD_NAMES if n not in keys and "," not in n]
        rnames = keys + rng.sample(others, len(rkinds) - len(keys))
        rrows = gen_table(rng, rng.choice([0, 2, 10, 60]), rkinds, na, rnames)
        right = (rnames, rrows, rkinds)
        args = ["--on", ",".join(keys), "--kind", rng.choice(["inner", "left", "right", "outer"])]
    args += common
    return Case(cmd, names, rows, kinds, args, right=right, crlf=rng.random() < 0.3, na=na)


# ---------------------------------------------------------------- running

def opt(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def read_input(path, na):
    # Nullable dtypes, so that an int column with nulls stays integer as partd keeps it (documented), rather than
    # float64, which merges integers beyond 2^53.
    kw = dict(keep_default_na=False, dtype_backend="numpy_nullable")
    return pd.read_csv(path, na_values=[""] + (PANDAS_NA if na else []), **kw)


def pandas_result(case, path, rpath):
    """The expected output as a DataFrame, and whether its row order counts."""
    df = read_input(path, case.na)
    a = case.args
    if case.cmd == "groupby":
        keys = split_keys(opt(a, "--by"), df)
        spec = {}
        for item in opt(a, "--agg").split(","):
            if item == "count":
                spec["count"] = (keys[0], "size")
                continue
            f, c = item.split(":", 1)
            name = f"{c}_{f}"
            if f.startswith("q"):
                # pandas' groupby quantile (a + (b - a) * f), which partd follows; Series.quantile differs at inf.
                q = float(f[1:])
                spec[name] = (c, lambda s, q=q: s.to_frame().groupby(np.zeros(len(s)))[s.name].quantile(q).iloc[0]
                              if len(s) else np.nan)
            else:
                spec[name] = (c, f)
        g = df.groupby(keys, dropna=False, sort="--sort" in a).agg(**spec).reset_index()
        return g, "--sort" in a
    if case.cmd == "sort":
        items = [x.rsplit(":", 1) if x.endswith(":desc") else [x] for x in opt(a, "--by").split(",")]
        out = df.sort_values([i[0] for i in items], ascending=[len(i) == 1 for i in items], kind="stable",
                             na_position="last")
        return out, True
    if case.cmd == "distinct":
        by = opt(a, "--by")
        keep = opt(a, "--keep", "first")
        out = df.drop_duplicates(split_keys(by, df) if by else None, keep=False if keep == "none" else keep)
        return out, False
    if case.cmd == "join":
        right = read_input(rpath, case.na)
        on = opt(a, "--on").split(",")
        how = opt(a, "--kind")
        # Null and NaN keys match nothing (documented): join the rows with keys, then add the others unmatched.
        lnull = df[on].isna().any(axis=1)
        rnull = right[on].isna().any(axis=1)
        out = df[~lnull].merge(right[~rnull], on=on, how=how, suffixes=("", "_right"))
        extra = []
        if how in ("left", "outer"):
            extra.append(df[lnull])
        if how in ("right", "outer"):
            extra.append(right[rnull].rename(columns={c: c + "_right" for c in right.columns if c in df.columns and c not in on}))
        if extra:
            out = pd.concat([out] + [e.reindex(columns=out.columns) for e in extra], ignore_index=True)
        return out, False
    raise ValueError(case.cmd)


def split_keys(text, df):
    return [text] if text in df.columns else text.split(",")


def run_partd(partd, case, path, rpath, timeout=60):
    if case.cmd == "join":
        argv = [partd, "join", path, rpath] + case.args
    else:
        argv = [partd, case.cmd, path] + case.args
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace").strip().splitlines()[-1:])
    return p.stdout.decode("utf-8", errors="replace"), None


# ---------------------------------------------------------------- comparing

def as_cells(text):
    """A CSV's rows as strings, every field as written."""
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False) if text.strip() else None
    return df


def norm(v):
    """A field as a comparable value: None for missing (pandas writes NaN as empty), floats for numbers."""
    if v == "" or v in ("nan", "NaN", "-nan"):
        return None
    try:
        f = float(v)
        if v.strip() in ("True", "False"):
            return v
        return f
    except ValueError:
        if v == "True" or v == "False":
            return v
        return v


def same(a, b):
    a, b = norm(a), norm(b)
    if isinstance(a, float) and isinstance(b, float):
        if math.isinf(a) or math.isinf(b):
            return a == b
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return a == b


def row_key(row):
    out = []
    for v in row:
        n = norm(v)
        if isinstance(n, float):
            out.append((1, float(f"{n:.9g}"), ""))
        elif n is None:
            out.append((0, 0.0, ""))
        else:
            out.append((2, 0.0, n))
    return out


def compare(case, ours_text, theirs_df, ordered):
    theirs_text = theirs_df.to_csv(index=False, lineterminator="\n")
    ours = as_cells(ours_text)
    theirs = as_cells(theirs_text)
    if ours is None or theirs is None:
        if (ours is None) != (theirs is None):
            return "one side printed nothing"
        return None
    if list(ours.columns) != list(theirs.columns):
        return f"columns {list(ours.columns)} vs pandas {list(theirs.columns)}"
    if len(ours) != len(theirs):
        return f"{len(ours)} rows vs pandas {len(theirs)}"
    o, t = ours.values.tolist(), theirs.values.tolist()
    if not ordered:
        o, t = sorted(o, key=row_key), sorted(t, key=row_key)
    for i, (x, y) in enumerate(zip(o, t)):
        for c, (u, v) in enumerate(zip(x, y)):
            if not same(u, v):
                return f"row {i} column {ours.columns[c]!r}: {u!r} vs pandas {v!r}"
    return None


def check(partd, case, tmp):
    path = os.path.join(tmp, "in.csv")
    rpath = os.path.join(tmp, "right.csv")
    write_csv(path, case.columns, case.rows, case.crlf)
    if case.right:
        write_csv(rpath, case.right[0], case.right[1], case.crlf)
    try:
        expected = pandas_result(case, path, rpath)
        perr = None
    except Exception as e:  # pandas refuses: partd should refuse too
        expected, perr = None, f"{type(e).__name__}: {e}"
        if "You are trying to merge on" in str(e):
            # A key widened to strings in one file is widened in both (documented); pandas refuses.
            return None
    text, err = run_partd(partd, case, path, rpath)
    if err == "timeout":
        return "partd timed out"
    if expected is None:
        return None if err else f"pandas refused ({perr}) but partd printed a result"
    if err and "which do not compare" in err and case.cmd == "join":
        # An int key and a float key are refused (documented), where pandas joins 1 with 1.0.
        right = read_input(rpath, case.na)
        left = read_input(path, case.na)
        on = opt(case.args, "--on").split(",")
        if any(pd.api.types.is_numeric_dtype(left[k]) and pd.api.types.is_numeric_dtype(right[k])
               and left[k].dtype != right[k].dtype for k in on):
            return None
        # A key column of nulls alone is float64 to pandas' default dtypes (Int64 to the nullable ones used
        # here), and pandas refuses to merge it with a string key as partd refuses its (int) column.
        if any(side[k].isna().all() for side in (left, right) for k in on):
            return None
        # pandas' default dtypes refuse an int key against a string key, where its nullable Int64 merges.
        kw = dict(keep_default_na=False, na_values=[""] + (PANDAS_NA if case.na else []))
        try:
            pd.read_csv(path, **kw).merge(pd.read_csv(rpath, **kw), on=on)
        except ValueError as e:
            if "You are trying to merge on" in str(e):
                return None
    if err:
        return f"partd failed: {err}"
    return compare(case, text, *expected)


def shrink(partd, case, tmp, problem):
    """Drop rows (halves, then single ones) and unused columns while the case still differs."""
    def differs(c):
        try:
            return check(partd, c, tmp) is not None
        except Exception:
            return False

    def with_rows(c, rows, right_rows=None):
        right = (c.right[0], right_rows if right_rows is not None else c.right[1], c.right[2]) if c.right else None
        return Case(c.cmd, c.columns, rows, c.kinds, c.args, right=right, crlf=c.crlf, na=c.na)

    for side in ("left", "right"):
        if side == "right" and not case.right:
            continue
        chunk = max(1, len(case.rows if side == "left" else case.right[1]) // 2)
        while chunk >= 1:
            i = 0
            while True:
                rows = case.rows if side == "left" else case.right[1]
                if i >= len(rows):
                    break
                fewer = rows[:i] + rows[i + chunk:]
                trial = with_rows(case, fewer) if side == "left" else with_rows(case, case.rows, fewer)
                if differs(trial):
                    case = trial
                else:
                    i += chunk
            chunk //= 2
    # Columns no option names.
    used = " ".join(case.args)
    for name in list(case.columns):
        if name in used or len(case.columns) == 1:
            continue
        j = case.columns.index(name)
        trial = Case(case.cmd, case.columns[:j] + case.columns[j + 1:], [r[:j] + r[j + 1:] for r in case.rows],
                     case.kinds[:j] + case.kinds[j + 1:], case.args, right=case.right, crlf=case.crlf, na=case.na)
        if differs(trial):
            case = trial
    return case, check(partd, case, tmp)


def show(case, tmp):
    path = os.path.join(tmp, "in.csv")
    write_csv(path, case.columns, case.rows, case.crlf)
    out = [f"  partd {case.cmd} in.csv {'right.csv ' if case.right else ''}{' '.join(repr(a) if ' ' in a or ',' in a else a for a in case.args)}",
           "  in.csv: " + repr(open(path, encoding="utf-8", newline="").read())]
    if case.right:
        rpath = os.path.join(tmp, "right.csv")
        write_csv(rpath, case.right[0], case.right[1], case.crlf)
        out.append("  right.csv: " + repr(open(rpath, encoding="utf-8", newline="").read()))
    return "\n".join(out)


def main():
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--start", type=int, default=1)
    ap.add_argument("--partd", default=os.path.join(os.path.dirname(__file__), "../../.build/debug/partd"))
    ap.add_argument("--only", choices=["groupby", "sort", "distinct", "join"])
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    ns = ap.parse_args()
    failures = 0
    counts = {}
    with tempfile.TemporaryDirectory(prefix="partd-diff-") as tmp:
        for seed in range(ns.start, ns.start + ns.seeds):
            case = gen_case(seed, ns.only)
            counts[case.cmd] = counts.get(case.cmd, 0) + 1
            problem = check(ns.partd, case, tmp)
            if ns.verbose:
                print(f"seed {seed}: {case.describe()}: {problem or 'ok'}", flush=True)
            if problem:
                failures += 1
                if not ns.no_shrink:
                    case, problem = shrink(ns.partd, case, tmp, problem)
                print(f"MISMATCH seed {seed}: {problem}\n{show(case, tmp)}", flush=True)
    print(f"{ns.seeds} seeds ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}): {failures} differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
