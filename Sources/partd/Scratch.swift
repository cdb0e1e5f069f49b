// SPDX-License-Identifier: Apache-2.0
//
// The scratch directory of a command's shuffles, removed however the command ends.

import Dispatch
import Foundation
import Partd
import PartdCSV

#if canImport(Glibc)
import Glibc
#endif

/// The directory a command's shuffles keep their temporary partitions under (`partd-run-PID-N` in `$TMPDIR`
/// or `/tmp`), removed when the command ends: normally, on an error, and when SIGINT, SIGTERM or SIGHUP
/// stops it (an interrupted sort would otherwise leave its spilled gigabytes behind). Made on first use, so
/// commands that spill nothing make none.
final class Scratch: @unchecked Sendable {
    static let shared = Scratch()

    private let lock = NSLock()
    private var path: String?
    private var sources: [any DispatchSourceSignal] = []
    /// Run when a signal stops the command, before it exits (see ``whileRunning(undo:_:)``).
    private var undo: (@Sendable () -> Void)?

    /// Runs `body`; if SIGINT, SIGTERM or SIGHUP stops the command meanwhile, `undo` runs before it exits (with
    /// the scratch directory's removal), so what `body` made outside the scratch directory goes too.
    func whileRunning<R>(undo: @escaping @Sendable () -> Void, _ body: () throws -> R) rethrows -> R {
        lock.lock()
        installHandlers()
        self.undo = undo
        lock.unlock()
        defer {
            lock.lock()
            self.undo = nil
            lock.unlock()
        }
        return try body()
    }

    /// The directory, made (and the signal handlers installed) on the first call.
    func directory() throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let path { return path }
        let parent = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var made: String?
        for _ in 0..<16 where made == nil {
            let candidate = (parent as NSString).appendingPathComponent("partd-run-\(getpid())-\(UInt32.random(in: 0 ... .max))")
            if (try? FileManager.default.createDirectory(atPath: candidate, withIntermediateDirectories: false)) != nil {
                made = candidate
            }
        }
        guard let made else { throw CommandError("cannot make a scratch directory in \(parent)") }
        path = made
        installHandlers()
        return made
    }

    /// Installs the signal handlers, once; call with `lock` held.
    private func installHandlers() {
        guard sources.isEmpty else { return }
        sources = takeStopSignals { [self] signal in
            lock.lock()
            let undo = self.undo
            lock.unlock()
            undo?()
            remove()
            writeStderr("\npartd: stopped by signal \(signal); scratch files removed\n")
            exit(128 + signal)
        }
    }

    /// Removes the directory with everything in it, if it was made (see ``removeUntilGone(_:)``: on a signal
    /// the command's threads may still be writing there).
    func remove() {
        lock.lock()
        defer { lock.unlock() }
        if let path { removeUntilGone(path) }
        path = nil
    }
}

/// Takes SIGINT, SIGTERM and SIGHUP from their default action (ending the process at once) and runs `handler`
/// with the signal's number on a global queue instead, for as long as the sources returned are kept.
func takeStopSignals(_ handler: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM, SIGHUP].map { signal in
        Glibc.signal(signal, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
        source.setEventHandler { handler(signal) }
        source.resume()
        return source
    }
}

/// Removes the directory at `path` with everything in it, trying again (for up to a second) while threads
/// still writing there make the removal fail: a file made between the listing and the `rmdir` does. Once the
/// directory is gone, nothing can be made in it.
func removeUntilGone(_ path: String) {
    for _ in 0..<100 where FileManager.default.fileExists(atPath: path) {
        if (try? PartdPath.destroy(path)) == nil { usleep(10_000) }
    }
}
