internal import CLibPQ
public import Foundation

/// Synchronous access to one connection, handed to the closure of `PostgresConnection.run`.
///
/// It exists only on the connection's own thread for the duration of that closure: it is not
/// `Sendable`, so the compiler keeps it from escaping to another task. Every method blocks.
public struct PostgresSession {
    let conn: OpaquePointer
    /// The connection's prepared statements; nil while the connection is being opened.
    let statements: StatementCache?

    /// Runs one statement with its parameters (`PQexecParams`, text format) and returns its rows.
    ///
    /// - Throws: `PostgresError` with `sqlState` and `constraint` for a server error,
    ///   `.connectionLost` when the connection broke.
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresResult {
        let result = withCStrings(query.binds) { values in
            PQexecParams(conn, query.sql, Int32(query.binds.count), nil, values, nil, nil, 0)
        }
        return try check(result)
    }

    /// Runs one statement as a prepared statement of this connection (`PQprepare` the first time
    /// its text is seen, `PQexecPrepared` after), saving the parse and, once PostgreSQL settles on
    /// a generic plan, the planning: for statements that run many times with new values.
    ///
    /// Names are resolved again when the tables change (PostgreSQL re-analyzes invalidated
    /// statements), so a schema swapped in by a rebuild is picked up.
    ///
    /// A statement the server no longer holds as prepared is prepared again and run once more
    /// (`StatementCache.forgets`); inside a transaction the failure aborted it, so it is forgotten
    /// and the error thrown, and the caller's retry prepares it anew.
    @discardableResult
    public func prepared(_ query: PostgresQuery) throws(PostgresError) -> PostgresResult {
        guard let statements else { return try self.query(query) }
        if let known = statements.names[query.sql] {
            do {
                return try runPrepared(known, query)
            } catch {
                guard statements.forgets(query.sql, after: error, idle: PQtransactionStatus(conn) == PQTRANS_IDLE) else { throw error }
            }
        }
        if statements.isFull {
            try execute(unsafeSQL: "DEALLOCATE ALL")
            statements.names.removeAll()
        }
        let name = statements.newName()
        _ = try check(PQprepare(conn, name, query.sql, Int32(query.binds.count), nil))
        statements.names[query.sql] = name
        return try runPrepared(name, query)
    }

    private func runPrepared(_ name: String, _ query: PostgresQuery) throws(PostgresError) -> PostgresResult {
        let result = withCStrings(query.binds) { values in
            PQexecPrepared(conn, name, Int32(query.binds.count), values, nil, nil, 0)
        }
        return try check(result)
    }

    /// Runs one or more statements without parameters (`PQexec`): DDL, migration files.
    /// Only the last statement's result is returned.
    @discardableResult
    public func execute(unsafeSQL sql: String) throws(PostgresError) -> PostgresResult {
        try check(PQexec(conn, sql))
    }

    /// Runs `body` inside `BEGIN … COMMIT`, rolling back if it throws.
    ///
    /// A failed `COMMIT` (serialization failure, deferred constraint) throws; nothing is retried
    /// here, because only the caller knows whether `body` is safe to run twice.
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute(unsafeSQL: "BEGIN")
        do {
            let value = try body()
            try execute(unsafeSQL: "COMMIT")
            return value
        } catch {
            if PQstatus(conn) == CONNECTION_OK, PQtransactionStatus(conn) != PQTRANS_IDLE {
                _ = try? execute(unsafeSQL: "ROLLBACK")
            }
            throw error
        }
    }

    /// Streams rows into `COPY … FROM STDIN` and returns the number of rows copied.
    ///
    /// ```swift
    /// try session.copyIn("COPY t (a, b) FROM STDIN") { writer in
    ///     try writer.write("1\tone\n")
    /// }
    /// ```
    /// Values in the text COPY format must have `\`, tab and newline escaped; see `CopyWriter.escape`.
    @discardableResult
    public func copyIn(_ sql: String, _ body: (inout CopyWriter) throws -> Void) throws -> Int {
        guard let start = PQexec(conn, sql) else { throw lastError(nil) }
        let status = PQresultStatus(start)
        guard status == PGRES_COPY_IN else {
            // Either an error, or a statement that is not COPY FROM STDIN.
            _ = try check(start)
            throw PostgresError(code: .protocolViolation, message: "statement did not start COPY FROM STDIN")
        }
        PQclear(start)
        var writer = CopyWriter(conn: conn)
        var failure: (any Error)?
        do {
            try body(&writer)
            try writer.flush()
        } catch {
            failure = error
        }
        let reason = failure.map { "\($0)" }
        if PQputCopyEnd(conn, reason) != 1 {
            throw PostgresError(code: .copyFailed, message: String(cString: PQerrorMessage(conn)))
        }
        let result = try drainResults()
        if let failure { throw failure }
        return result.map { $0.affectedRows } ?? 0
    }

    /// Calls `PQgetResult` until it returns NULL (libpq manual §34.4), checking each result and
    /// returning the last one.
    private func drainResults() throws(PostgresError) -> PostgresResult? {
        var last: PostgresResult?
        var firstError: PostgresError?
        while let next = PQgetResult(conn) {
            do { last = try check(next) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
        return last
    }

    /// Turns a raw `PGresult` into a `PostgresResult`, or throws its error (clearing it first).
    func check(_ raw: OpaquePointer?) throws(PostgresError) -> PostgresResult {
        guard let raw else { throw lastError(nil) }
        switch PQresultStatus(raw) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE, PGRES_COPY_IN, PGRES_COPY_OUT:
            return PostgresResult(raw)
        default:
            let error = lastError(raw)
            PQclear(raw)
            throw error
        }
    }

    /// Builds the error for a failed call from the result's fields, or from the connection.
    func lastError(_ raw: OpaquePointer?) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let raw, let value = PQresultErrorField(raw, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let message = field("M") ?? String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
        if PQstatus(conn) != CONNECTION_OK {
            return PostgresError(code: .connectionLost, message: message, sqlState: sqlState)
        }
        if sqlState == "57014" {
            return PostgresError(code: .cancelled, message: message, sqlState: sqlState)
        }
        if sqlState == nil {
            return PostgresError(code: .protocolViolation, message: message)
        }
        return PostgresError(
            code: .server, message: message, sqlState: sqlState, detail: field("D"), hint: field("H"),
            constraint: field("n"), table: field("t")
        )
    }

    /// The backend's process id, for `pg_terminate_backend` in tests and for logs.
    public var backendPID: Int32 { PQbackendPID(conn) }
}

/// Buffers rows for `COPY FROM STDIN` and sends them in large chunks.
public struct CopyWriter: RowWriter {
    let conn: OpaquePointer
    private var buffer: [UInt8] = []
    /// Whether the current row has a value yet (the next one is preceded by a tab).
    private var inRow = false

    init(conn: OpaquePointer) {
        self.conn = conn
        buffer.reserveCapacity(1 << 16)
    }

    public mutating func write(_ text: String) throws(PostgresError) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    public mutating func flush() throws(PostgresError) {
        guard !buffer.isEmpty else { return }
        let sent = buffer.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1 else {
            throw PostgresError(code: .copyFailed, message: String(cString: PQerrorMessage(conn)))
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes one row in the text COPY format: fields tab-separated, `\N` for NULL, each value
    /// escaped (see `escape`) straight into the send buffer.
    public mutating func writeRow(_ fields: [String?]) throws(PostgresError) {
        for field in fields { text(field) }
        try endRow()
    }

    public mutating func text(_ value: String?) {
        separate()
        guard var value else {
            buffer.append(0x5C)
            buffer.append(0x4E)
            return
        }
        value.withUTF8 { Self.appendEscaped($0, to: &buffer) }
    }

    public mutating func integer(_ value: Int64) {
        separate()
        RowBytes.appendDecimal(value, to: &buffer)
    }

    public mutating func uuid(_ value: UUID) {
        separate()
        RowBytes.appendUUID(value, to: &buffer)
    }

    public mutating func json(_ value: String?) { text(value) }

    public mutating func endRow() throws(PostgresError) {
        buffer.append(0x0A)
        inRow = false
        if buffer.count >= 1 << 16 { try flush() }
    }

    private mutating func separate() {
        if inRow { buffer.append(0x09) }
        inRow = true
    }

    /// Escapes a value for the text COPY format: backslash, tab, newline and carriage return.
    public static func escape(_ value: String) -> String {
        var value = value
        var bytes: [UInt8] = []
        value.withUTF8 { appendEscaped($0, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout [UInt8]) {
        // Most values have nothing to escape: one copy.
        guard bytes.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else {
            buffer.append(contentsOf: bytes)
            return
        }
        for byte in bytes {
            switch byte {
            case 0x5C: buffer.append(0x5C); buffer.append(0x5C)
            case 0x09: buffer.append(0x5C); buffer.append(0x74)
            case 0x0A: buffer.append(0x5C); buffer.append(0x6E)
            case 0x0D: buffer.append(0x5C); buffer.append(0x72)
            default: buffer.append(byte)
            }
        }
    }
}

/// Calls `body` with a C array of NUL-terminated strings (NULL for `nil`) that stays valid for
/// the whole call, as `PQexecParams` requires.
func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    if strings.isEmpty { return body(nil) }
    var offsets: [Int?] = []
    offsets.reserveCapacity(strings.count)
    var storage: [UInt8] = []
    storage.reserveCapacity(strings.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
    for string in strings {
        guard let string else {
            offsets.append(nil)
            continue
        }
        offsets.append(storage.count)
        // A copy of the string's contiguous bytes, not a byte at a time: an import's batch is a
        // megabyte of JSON, and copying it byte by byte cost 5% of the import's CPU.
        storage.append(contentsOf: string.utf8)
        storage.append(0)
    }
    return storage.withUnsafeBufferPointer { bytes in
        bytes.withMemoryRebound(to: CChar.self) { chars in
            let pointers: [UnsafePointer<CChar>?] = offsets.map { offset in offset.map { chars.baseAddress! + $0 } }
            return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
