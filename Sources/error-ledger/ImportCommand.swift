import ArgumentParser
import CLISupport
import EventStore
import Foundation
import Ingestion
import Ledger
import OICP

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Bulk-load an NDJSON archive of notifications (one per line), in batches.",
        discussion: """
            Each refused line is reported on standard error with its number and reasons. Importing the same
            file again stores nothing: Start, Progress and End have a natural identity, and an Error line's
            idempotency key comes from its content and how often that content occurred before in the file.
            Exits 1 when any line was refused or failed.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "The NDJSON file, or - for standard input.")
    var file: String

    @Option(name: .customLong("batch-size"), help: "Lines per append statement.")
    var batchSize: Int = 1000

    @Option(help: "Parallel database workers; an EVSE's lines (and so a session's) always go to the same one, in file order.")
    var workers: Int = 3

    @Flag(name: .customLong("quiet"), help: "No progress line.")
    var quiet = false

    func run() async throws {
        let logger = try database.bootstrapLogging()
        guard batchSize > 0, batchSize <= 10_000 else { throw ValidationError("--batch-size must be 1…10000") }
        guard workers > 0, workers <= 16 else { throw ValidationError("--workers must be 1…16") }
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: workers + 1, commitLanes: 1), logger: logger)
        defer { store.close() }
        let ingestor = Ingestor(store: store, configuration: try .fromEnvironment(), logger: logger)
        let context = IngestContext(receivedAt: Date(), client: "import", source: "import")
        let reader = try LineReader(path: file, maxLineBytes: ingestor.validator.limits.maxBodyBytes)

        var counts = ImportTally()
        var plan = ImportPlan(workers: workers)
        let started = Date()
        var lastProgress = started
        var linesRead = 0

        @Sendable func report(_ lines: [ImportLine], _ outcomes: [ImportLineOutcome]) -> ImportTally {
            var counts = ImportTally()
            for (line, outcome) in zip(lines, outcomes) {
                switch outcome {
                case .appended: counts.appended += 1
                case .alreadyAppended: counts.already += 1
                case .rejected(let problems):
                    counts.rejected += 1
                    let reasons = problems.map(\.line).joined(separator: "; ")
                    printError("line \(line.number): refused: \(reasons)")
                case .failed(let message):
                    counts.failed += 1
                    printError("line \(line.number): failed: \(message)")
                }
            }
            return counts
        }

        // Lines are routed to workers by EvseID, so one EVSE's notifications (and so each
        // session's) stay in one worker, in file order. Each worker takes batches from a queue of its own (at most two
        // waiting, so memory stays bounded), and runs independently of the others; the reader
        // validates the next lines meanwhile. Refused lines go to worker 0.
        typealias Item = (line: ImportLine, validation: Result<ValidatedNotification, ValidationFailure>)
        let queues = (0..<workers).map { _ in BatchQueue<[Item]>(capacity: 2) }
        try await withThrowingTaskGroup(of: ImportTally.self) { group in
            for queue in queues {
                group.addTask {
                    var tally = ImportTally()
                    do {
                        while let items = await queue.pop() {
                            let outcomes = try await ingestor.importValidated(items, context: context)
                            tally.add(report(items.map(\.line), outcomes))
                        }
                    } catch {
                        queue.close()  // the reader stops instead of waiting on this queue
                        throw error
                    }
                    return tally
                }
            }
            var batches = [[Item]](repeating: [], count: workers)
            do {
                while let line = try reader.next() {
                    if line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                    linesRead = line.number
                    let validation =
                        if let length = line.fullLength {
                            Result<ValidatedNotification, ValidationFailure>.failure(
                                ValidationFailure(problems: [
                                    ValidationProblem(pointer: "", message: "the line is \(length) bytes; a notification is at most \(ingestor.validator.limits.maxBodyBytes) bytes")
                                ])
                            )
                        } else {
                            ingestor.validator.validate(line.bytes)
                        }
                    let (item, worker) = plan.place(number: line.number, bytes: line.bytes, validation: validation)
                    batches[worker].append((item, validation))
                    if batches[worker].count >= batchSize {
                        guard await queues[worker].push(batches[worker]) else { break }  // that worker failed
                        batches[worker].removeAll(keepingCapacity: true)
                        if !quiet, Date().timeIntervalSince(lastProgress) >= 1 {
                            lastProgress = Date()
                            let rate = Double(linesRead) / max(0.001, lastProgress.timeIntervalSince(started))
                            printError("… \(linesRead) lines read, \(Int(rate)) lines/s")
                        }
                    }
                }
                for worker in 0..<workers where !batches[worker].isEmpty { await queues[worker].push(batches[worker]) }
            } catch {
                for queue in queues { queue.finish() }
                throw error
            }
            for queue in queues { queue.finish() }
            do {
                for try await tally in group { counts.add(tally) }
            } catch {
                printError("import stopped after \(linesRead) lines read: \(error). Running the same import again is safe: nothing is stored twice.")
                throw ExitCode(1)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let total = counts.appended + counts.already + counts.rejected + counts.failed
        print(
            "imported \(total) lines in \(String(format: "%.1f", seconds)) s (\(Int(Double(total) / max(seconds, 0.001))) lines/s): "
                + "\(counts.appended) appended, \(counts.already) already present, \(counts.rejected) refused, \(counts.failed) failed"
        )
        if counts.rejected + counts.failed > 0 { throw ExitCode(1) }
    }
}

/// Lines by outcome.
struct ImportTally {
    var appended = 0
    var already = 0
    var rejected = 0
    var failed = 0

    mutating func add(_ other: ImportTally) {
        appended += other.appended
        already += other.already
        rejected += other.rejected
        failed += other.failed
    }
}

/// Reads `\n`-separated lines from a file in large chunks.
final class LineReader {
    struct Line {
        var number: Int
        var bytes: [UInt8]
        /// The line's full length when it was longer than the limit and `bytes` was cut.
        var fullLength: Int?
    }

    private let handle: FileHandle
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var number = 0
    private var finished = false

    init(path: String, maxLineBytes: Int) throws {
        handle = path == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        self.maxLineBytes = maxLineBytes
    }

    /// The next line without its `\n`. A line longer than the body limit is cut there, and
    /// its full length is reported so the line can be refused with its real size; the reader
    /// never holds more than the chunk and the line being read.
    func next() throws -> Line? {
        while true {
            if let end = buffer[start...].firstIndex(of: 0x0A) {
                number += 1
                let length = end - start
                let line = Array(buffer[start..<min(end, start + maxLineBytes)])
                start = end + 1
                return Line(number: number, bytes: line, fullLength: length > maxLineBytes ? length : nil)
            }
            if finished {
                guard start < buffer.count else { return nil }
                number += 1
                let length = buffer.count - start
                let line = Array(buffer[start..<min(buffer.count, start + maxLineBytes)])
                start = buffer.count
                return Line(number: number, bytes: line, fullLength: length > maxLineBytes ? length : nil)
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
