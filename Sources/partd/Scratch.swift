// SPDX-License-Identifier: Apache-2.0
//
// The scratch directory of a command's shuffles, removed however the command ends.

import Foundation
import Partd
import PartdCSV
import Synchronization

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
    private var handling = false
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

    /// The directory, made (and the signal handler installed) on the first call.
    func directory() throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let path { return path }
        installHandlers()  // first: a signal coming as the directory is made then removes it
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
        return made
    }

    /// Installs the signal handler, once; call with `lock` held.
    private func installHandlers() {
        guard !handling else { return }
        handling = true
        StopSignals.shared.take { [self] signal in
            // The lock is held to the end: a command finishing meanwhile waits in `whileRunning` and never
            // reports as written what `undo` removes.
            lock.lock()
            undo?()
            if let path { removeUntilGone(path) }
            path = nil
            writeStderr("\npartd: stopped by signal \(signal); scratch files removed\n")
            StopSignals.end(by: signal)
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

/// SIGINT, SIGTERM and SIGHUP, for the whole process (those not ignored at its start). ``start()``, the first thing `main` does, blocks them
/// before any other thread exists (threads inherit the mask), so none is delivered: each waits, pending, until
/// one thread takes it with `sigwait`. That thread runs the handler ``take(_:)`` set, or, with none set, ends
/// the process by the signal as its default action would. So no signal is lost whenever it comes: taking a
/// signal with a handler installed later (`SIG_IGN`, then a dispatch source) lost one that came in between.
/// Every thread keeps them blocked, and a child process would inherit that mask (Foundation's `Process` does
/// not reset it): a command that starts one must unblock them in the child (`posix_spawnattr_setsigmask`).
final class StopSignals: Sendable {
    static let shared = StopSignals()
    private let handler = Mutex<(@Sendable (Int32) -> Void)?>(nil)
    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and starts the thread that takes them. Call it
    /// once, first thing in `main`, before any other thread starts. A signal ignored when the process started
    /// (SIGHUP under `nohup`, SIGINT in a shell's background job) is left out and stays ignored, as POSIX
    /// programs leave it.
    func start() {
        var taken = sigset_t()
        sigemptyset(&taken)
        var any = false
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var current = sigaction()
            sigaction(signal, nil, &current)
            guard unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) != unsafeBitCast(SIG_IGN, to: Int.self) else { continue }
            sigaddset(&taken, signal)
            any = true
        }
        guard any else { return }
        pthread_sigmask(SIG_BLOCK, &taken, nil)
        Thread.detachNewThread { [self, taken] in takeForever(taken) }
    }

    /// From now on, runs `handler` with the signal's number when one comes (on the signals' own thread), in
    /// place of the handler set before or of the default action.
    func take(_ handler: @escaping @Sendable (Int32) -> Void) {
        self.handler.withLock { $0 = handler }
    }

    /// Ends the process by `signal`'s default action, as if it had never been taken: a shell sees the command
    /// killed by it (status 128 + the signal, and a loop running it stops on Ctrl-C). Call it on the signals'
    /// thread: unblocked there, the signal raised there ends the process.
    static func end(by signal: Int32) {
        Glibc.signal(signal, SIG_DFL)
        var one = sigset_t()
        sigemptyset(&one)
        sigaddset(&one, signal)
        pthread_sigmask(SIG_UNBLOCK, &one, nil)
        raise(signal)
    }

    private func takeForever(_ taken: sigset_t) -> Never {
        var set = taken
        while true {
            var signal: Int32 = 0
            guard sigwait(&set, &signal) == 0 else { continue }
            let handler = self.handler.withLock { handler in
                // With no handler, the default action, under the lock, so no handler is set (and nothing made
                // for it to undo) meanwhile.
                if handler == nil { Self.end(by: signal) }
                return handler
            }
            handler?(signal)
        }
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
