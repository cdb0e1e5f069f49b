// SPDX-License-Identifier: Apache-2.0
//
// The `partd` command: look inside a store (ls, cat, stats, verify, repair,
// export), shuffle, group, join, sort or deduplicate a CSV or Arrow file out of
// core (shuffle, groupby, join, sort, distinct), and serve a store to many
// processes (serve).

import ArgumentParser
import Dispatch
import Logging
import Partd
import PartdServer

#if canImport(Glibc)
import Glibc
#endif

@main
struct PartdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partd",
        abstract: "Appendable key-value stores on disk for out-of-core shuffles.",
        subcommands: [List.self, Cat.self, Stats.self, Verify.self, Repair.self, Export.self, ShuffleCSV.self, GroupByCSV.self, JoinCSV.self, SortCSV.self, DistinctCSV.self, Serve.self])

    /// Runs the command, then removes its scratch directory (on errors too: `exit(withError:)` exits at once).
    /// SIGPIPE is ignored, so output to a pipe whose reader has gone (`partd sort … | head -1`) fails the write
    /// instead of killing the command: it removes its scratch directory and exits quietly with status 141,
    /// as SIGPIPE would. Other output failures (a full disk) are reported as errors.
    static func main() {
        signal(SIGPIPE, SIG_IGN)
        StopSignals.shared.start()
        do {
            var command = try parseAsRoot()
            try command.run()
            Scratch.shared.remove()
        } catch is OutputClosed {
            Scratch.shared.remove()
            Glibc.exit(OutputClosed.exitStatus)
        } catch {
            Scratch.shared.remove()
            exit(withError: error)
        }
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a store to many processes over a Unix socket and/or TCP.",
        discussion: """
            Serves a spilling store: up to --memory bytes in memory, the rest in the directory --path \
            (a temporary directory, removed at exit, if not given). Stops on SIGINT, SIGTERM, SIGHUP or a \
            client's shutdown request after finishing the requests in flight, flushing memory to the \
            directory (a signal ignored when it starts, as nohup ignores SIGHUP, stays ignored). Prints one line \
            "listening on ADDRESS" per address once ready.
            """)

    @Option(help: "The directory the store keeps its data in (default: a temporary one).")
    var path: String?

    @Option(help: "Bytes kept in memory before spilling to the directory, e.g. 2GB, 512MiB.")
    var memory: String = "2GB"

    @Option(help: "A Unix domain socket path to listen on (made mode 0600).")
    var socket: String?

    @Option(help: "A TCP port to listen on (0: any free port).")
    var port: Int?

    @Option(help: "The host TCP binds to.")
    var host: String = "127.0.0.1"

    @Option(help: "A shared secret clients must present (default: $PARTD_TOKEN, if set).")
    var token: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard socket != nil || port != nil else { throw ValidationError("give --socket PATH and/or --port N") }
        guard ByteCount(memory) != nil else { throw ValidationError("--memory needs a size such as 2GB") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() throws {
        var logger = Logger(label: "partd.server")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        // The signals are taken before the server starts, so a SIGTERM sent once "listening on" shows stops it
        // cleanly (it killed it, leaving its temporary store, when taken after that line). One that comes
        // earlier ends the process by its default action, with nothing made yet to leave behind (StopSignals).
        let stop = DispatchSemaphore(value: 0)
        StopSignals.shared.take { _ in stop.signal() }
        let directory = try path.map { try DirectoryStore(path: $0) } ?? DirectoryStore.temporary()
        let store = SpillingStore(spillingTo: directory, availableMemory: ByteCount(memory)!)
        var addresses: [StoreServer.Address] = []
        if let socket { addresses.append(.unixSocket(socket)) }
        if let port { addresses.append(.tcp(host: host, port: port)) }
        let secret = token ?? getenv("PARTD_TOKEN").map { String(cString: $0) }
        let server = try StoreServer.start(
            serving: store, on: addresses,
            configuration: StoreServer.Configuration(token: secret, onShutdownRequest: { stop.signal() }),
            logger: logger)
        for address in server.addresses { print("listening on \(address)") }
        fflush(nil)
        stop.wait()
        logger.info("shutting down")
        try server.shutdown {
            try store.flush()
            if path == nil { try directory.close() }
        }
    }
}
