#!/usr/bin/env python3
"""W4 server: Python partd's ZeroMQ server with two client processes, each appending BATCHES batches of
16 keys x 100 bytes (keys "w<worker>-k<i>"), then one get so every append has been answered.
partd's Server serves partd.Buffer(partd.Dict(), partd.File(dir)) (its default) in its own process and
binds a random TCP port, reached over loopback: its constructor cannot bind a given address (ipc:// for a
Unix socket included), as it parses a port out of it with a str/bytes mix-up. Prints one JSON line: wall time from starting the clients until both finished.

  w4_server.py [--batches 20000] [--clients 2]
"""
import argparse, json, multiprocessing as mp, os, random, shutil, tempfile, time


def serve(address_queue, stop, tmp):
    import partd
    from partd.zmq import Server
    # bind=None: a random TCP port (partd's Server cannot parse a given bind address in Python 3).
    server = Server(partd.Buffer(partd.Dict(), partd.File(tmp)), hostname="127.0.0.1")
    address_queue.put(server.address)
    stop.wait()
    server.close()


def client(address, worker, batches, out):
    from partd.zmq import Client
    rng = random.Random(worker)
    data = {("w%d-k%d" % (worker, i)): bytes(rng.getrandbits(8) for _ in range(100)) for i in range(16)}
    c = Client(address)
    t0 = time.perf_counter()
    for _ in range(batches):
        c.append(data)
    n = len(c.get("w%d-k0" % worker))
    out.put((worker, time.perf_counter() - t0, n))
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(suffix=".partd", dir=os.environ.get("SERVER_TMP"))
    q, stop, out = mp.Queue(), mp.Event(), mp.Queue()
    server = mp.Process(target=serve, args=(q, stop, tmp))
    server.start()
    address = q.get(timeout=30)
    t0 = time.perf_counter()
    clients = [mp.Process(target=client, args=(address, w, args.batches, out)) for w in range(args.clients)]
    for c in clients:
        c.start()
    results = [out.get(timeout=600) for _ in clients]
    wall = time.perf_counter() - t0
    for c in clients:
        c.join()
    stop.set()
    server.join(timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)
    total = args.batches * args.clients
    print(json.dumps({
        "impl": "python-partd", "transport": "tcp-loopback", "clients": args.clients, "batches_per_client": args.batches,
        "seconds": wall, "batches_per_s": total / wall, "mb_per_s": total * 1600 / wall / 1e6,
        "ok": all(n == args.batches * 100 for _, _, n in results),
    }), flush=True)


if __name__ == "__main__":
    main()
