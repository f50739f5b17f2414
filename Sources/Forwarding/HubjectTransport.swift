import CCurl
import Foundation
public import Logging
import Synchronization

/// Where and how the ledger reaches Hubject (REFERENCE §5.1, §5.2, §5.4).
///
/// | key | environment | default |
/// | --- | --- | --- |
/// | `baseURL` | `LEDGER_HUBJECT_URL` | — (e.g. `https://service-qa.hubject.com/api/oicp`) |
/// | `clientCertificate` | `LEDGER_HUBJECT_CLIENT_CERT` | — PEM file |
/// | `clientKey` | `LEDGER_HUBJECT_CLIENT_KEY` | — PEM file |
/// | `caBundle` | `LEDGER_HUBJECT_CA_BUNDLE` | — PEM file with Hubject's root and intermediate |
/// | `connectTimeout` | | 5 s |
/// | `timeout` | | 30 s for the whole exchange |
/// | `connections` | | 8 requests in flight (one thread and one reused connection each) |
public struct HubjectTransportConfiguration: Sendable {
    public var baseURL: String
    public var clientCertificate: String
    public var clientKey: String
    public var caBundle: String
    public var connectTimeout: Duration
    public var timeout: Duration
    public var connections: Int

    public init(
        baseURL: String, clientCertificate: String, clientKey: String, caBundle: String, connectTimeout: Duration = .seconds(5),
        timeout: Duration = .seconds(30), connections: Int = 8
    ) {
        self.baseURL = baseURL
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.caBundle = caBundle
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.connections = connections
    }

    /// The ChargingNotifications endpoint under the base URL (REFERENCE §1.1).
    public var notificationURL: String {
        (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + "/notificationmgmt/v11/charging-notifications"
    }

    /// Checks what can be checked before the first send: an `https` URL, and three readable PEM
    /// files of the right kind.
    /// - Throws: `TransportError.configuration` naming the setting and what is wrong with it.
    public func validate() throws(TransportError) {
        guard let url = URL(string: baseURL), url.scheme == "https", url.host != nil else {
            throw .configuration("LEDGER_HUBJECT_URL \"\(baseURL)\" is not an https:// URL (e.g. https://service-qa.hubject.com/api/oicp)")
        }
        try Self.checkPEM(clientCertificate, setting: "LEDGER_HUBJECT_CLIENT_CERT", marker: "CERTIFICATE")
        try Self.checkPEM(clientKey, setting: "LEDGER_HUBJECT_CLIENT_KEY", marker: "PRIVATE KEY")
        try Self.checkPEM(caBundle, setting: "LEDGER_HUBJECT_CA_BUNDLE", marker: "CERTIFICATE")
    }

    private static func checkPEM(_ path: String, setting: String, marker: String) throws(TransportError) {
        guard !path.isEmpty else { throw .configuration("\(setting) is not set") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .configuration("\(setting) \(path) cannot be read (missing, or no permission)")
        }
        let text = String(decoding: data.prefix(1 << 20), as: UTF8.self)
        guard text.contains("-----BEGIN "), text.contains(marker + "-----") else {
            throw .configuration("\(setting) \(path) holds no PEM \(marker)")
        }
    }
}

/// What one request to Hubject came to, before interpretation.
public enum TransportResult: Sendable, Equatable {
    /// An HTTP response arrived, whatever its status.
    case response(status: Int, body: [UInt8], retryAfter: Int?, latency: Duration)
    /// No response: the reason and curl's words for it.
    case failure(TransportFailure, String)
}

public enum TransportFailure: String, Sendable, Equatable {
    case timeout
    case connect
    /// Handshake refused either way, certificate or name not trusted.
    case tls
    /// Reset, closed early, or another error on the connection.
    case connection
    /// The answer was longer than `HubjectTransport.bodyLimit`: reading stopped there and the
    /// connection was closed (an acknowledgement is a few hundred bytes; this is a proxy's page,
    /// a misrouted download, or an answer that never ends).
    case oversized
}

public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    case configuration(String)

    public var description: String {
        switch self {
        case .configuration(let message): message
        }
    }
}

/// POSTs notifications to Hubject over mutual TLS with libcurl, on threads of its own (never
/// the cooperative pool). Each thread keeps one curl handle, so its TLS connection is reused
/// from request to request.
///
/// ```swift
/// let transport = try HubjectTransport(configuration: configuration)   // fails on bad files
/// let result = await transport.send(Array(body.utf8))
/// ```
public final class HubjectTransport: Sendable {
    /// The longest answer read, in bytes; Hubject's acknowledgements are far smaller. A longer
    /// answer stops the transfer at this many bytes and is a `.oversized` failure, so neither
    /// memory nor time spent on one answer grows with what the peer sends.
    static let bodyLimit = 65_536

    public let configuration: HubjectTransportConfiguration
    private let work = WorkQueue()
    private let logger: Logger

    public init(configuration: HubjectTransportConfiguration, logger: Logger = Logger(label: "hubject")) throws(TransportError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        Self.initializeCurl
        for index in 0..<max(1, configuration.connections) {
            let thread = Thread { [work, configuration] in Self.serve(work, configuration) }
            thread.name = "hubject.\(index)"
            thread.start()
        }
    }

    deinit { work.close() }

    private static let initializeCurl: Void = { _ = ccurl_global_init() }()

    /// Sends one notification body; returns when Hubject answered or the request failed.
    public func send(_ body: [UInt8]) async -> TransportResult {
        await withCheckedContinuation { continuation in
            if !work.submit(Job(body: body, continuation: continuation)) {
                continuation.resume(returning: .failure(.connection, "the transport was closed"))
            }
        }
    }

    /// Stops the threads once their current request is done.
    public func close() { work.close() }

    struct Job: Sendable {
        var body: [UInt8]
        var continuation: CheckedContinuation<TransportResult, Never>
    }

    private static func serve(_ work: WorkQueue, _ configuration: HubjectTransportConfiguration) {
        let handle = ccurl_handle_new()
        defer { ccurl_handle_free(handle) }
        while let job = work.next() {
            job.continuation.resume(returning: post(job.body, handle: handle, configuration))
        }
    }

    private static func post(_ body: [UInt8], handle: UnsafeMutableRawPointer?, _ configuration: HubjectTransportConfiguration) -> TransportResult {
        guard let handle else { return .failure(.connection, "curl_easy_init failed") }
        var result = ccurl_result()
        defer { ccurl_result_free(&result) }
        let code = configuration.clientCertificate.withCString { cert in
            configuration.clientKey.withCString { key in
                configuration.caBundle.withCString { ca in
                    var tls = ccurl_tls(
                        client_cert: cert, client_key: key, ca_bundle: ca,
                        connect_timeout_ms: Int(configuration.connectTimeout.milliseconds), timeout_ms: Int(configuration.timeout.milliseconds)
                    )
                    return body.withUnsafeBufferPointer { bytes in
                        ccurl_post_json(handle, configuration.notificationURL, bytes.baseAddress, bytes.count, &tls, bodyLimit, &result)
                    }
                }
            }
        }
        let message = withUnsafeBytes(of: result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if ccurl_is_oversized(&result) != 0 {
            return .failure(
                .oversized, "Hubject's answer (HTTP \(result.http_status)) is longer than \(bodyLimit) bytes; stopped reading it there"
            )
        }
        guard code == 0 else {
            let kind: TransportFailure =
                ccurl_is_timeout(code) != 0 ? .timeout
                : ccurl_is_connect_failure(code) != 0 ? .connect
                : ccurl_is_tls_failure(code) != 0 ? .tls : .connection
            return .failure(kind, message.isEmpty ? String(cString: ccurl_strerror(code)) : message)
        }
        let bytes = result.body.map { Array(UnsafeBufferPointer(start: $0, count: result.body_length)) } ?? []
        return .response(
            status: result.http_status, body: bytes, retryAfter: result.retry_after_seconds >= 0 ? result.retry_after_seconds : nil,
            latency: .milliseconds(Int64(result.total_seconds * 1000))
        )
    }
}

/// Jobs for the transport's threads: a blocking queue (its waits are on those threads only).
final class WorkQueue: Sendable {
    private struct State {
        var jobs: [HubjectTransport.Job] = []
        var closed = false
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)

    /// - Returns: false when the queue is closed.
    func submit(_ job: HubjectTransport.Job) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { available.signal() }
        return accepted
    }

    /// The next job, waiting for one; nil once closed and drained.
    func next() -> HubjectTransport.Job? {
        while true {
            available.wait()
            let (job, closed) = state.withLock { state -> (HubjectTransport.Job?, Bool) in
                state.jobs.isEmpty ? (nil, state.closed) : (state.jobs.removeFirst(), false)
            }
            if let job { return job }
            if closed {
                available.signal()  // wake the next thread so it sees the close too
                return nil
            }
        }
    }

    func close() {
        state.withLock { $0.closed = true }
        available.signal()
    }
}

extension Duration {
    var milliseconds: Int64 { Int64(self / .milliseconds(1)) }
}
