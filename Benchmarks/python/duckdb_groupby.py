#!/usr/bin/env python3
"""The same groupby in DuckDB, as a yardstick: 10,000,000 rows (id int64 uniform in 0..<1,000,000, x
double, name one of 1,000 short strings) in a DuckDB database file, then
`SELECT id, sum(x), count(*) FROM t GROUP BY id` materialised into a table, with a memory limit
(default 64MB, so the aggregation spills) and 2 threads. Loading the table is not timed. Prints one
JSON object. DuckDB runs the whole job inside one engine (columnar storage, no shuffle to files of
separate partitions), so it bounds what a shuffle library can approach rather than being like for like.

  duckdb_groupby.py [--rows N] [--memory 64MB] [--threads 2]
"""
import argparse, json, os, shutil, tempfile, time

import duckdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--memory", default="64MB")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(suffix=".duckdb", dir=os.environ.get("SHUFFLE_TMP"))
    try:
        con = duckdb.connect(os.path.join(tmp, "db.duckdb"))
        con.execute(f"SET threads={args.threads}")
        con.execute(f"SET temp_directory='{tmp}/spill'")
        con.execute(
            "CREATE TABLE t AS SELECT (hash(i) % 1000000)::BIGINT AS id, random() AS x, "
            f"'name-' || (i % 1000)::VARCHAR AS name FROM range({args.rows}) r(i)")
        con.execute("CHECKPOINT")
        con.execute(f"SET memory_limit='{args.memory}'")
        t0 = time.perf_counter()
        con.execute("CREATE TABLE r AS SELECT id, sum(x) AS s, count(*) AS c FROM t GROUP BY id")
        seconds = time.perf_counter() - t0
        groups, rows = con.execute("SELECT count(*), sum(c) FROM r").fetchone()
        print(json.dumps({
            "impl": "duckdb", "workload": "groupby", "rows": args.rows, "memory_limit": args.memory,
            "threads": args.threads, "total_s": seconds, "groups": groups, "ok": rows == args.rows,
        }), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
