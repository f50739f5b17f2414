/// The HTTP versions the server speaks.
public enum HTTPVersion: String, Sendable, Hashable {
    case http1_0 = "HTTP/1.0"
    case http1_1 = "HTTP/1.1"
}

/// Header fields in received order. Names compare case-insensitively (RFC 9110 §5.1).
public struct HTTPHeaders: Sendable, Hashable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    public mutating func append(name: String, value: String) { fields.append((name, value)) }

    /// Every value of the fields named `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    /// The value of the one field named `name`, or nil (also when it occurs more than once).
    public subscript(name: String) -> String? {
        var found: String?
        for field in fields where Self.sameName(field.name, name) {
            if found != nil { return nil }
            found = field.value
        }
        return found
    }

    /// Field names are tokens (ASCII, RFC 9110 §5.1), compared without case byte by byte: no
    /// lower-cased copies on every lookup (several per request).
    static func sameName(_ a: String, _ b: String) -> Bool {
        func folded(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }  // A–Z only
        return a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) { folded($0) == folded($1) }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}

/// How the request's body is delimited (RFC 9112 §6).
public enum HTTPBodyFraming: Sendable, Hashable {
    case none
    case length(Int)
    case chunked
}

/// A parsed request line and header section.
public struct HTTPRequestHead: Sendable, Hashable {
    public var method: String
    /// The request target as sent (origin form `/path?query`, or `*`, or absolute form).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var framing: HTTPBodyFraming

    public init(method: String, target: String, version: HTTPVersion, headers: HTTPHeaders, framing: HTTPBodyFraming) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.framing = framing
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    public var keepAlive: Bool {
        let tokens = headers.values("Connection").flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        switch version {
        case .http1_1: return !tokens.contains("close")
        case .http1_0: return tokens.contains("keep-alive")
        }
    }

    /// `Expect: 100-continue` (RFC 9110 §10.1.1): the client waits for an interim response
    /// before it sends the body.
    public var expectsContinue: Bool {
        version == .http1_1 && headers.values("Expect").contains { $0.lowercased() == "100-continue" }
    }
}

/// A whole request: head and body (bodies are bounded by `HTTPLimits.body`).
public struct HTTPRequest: Sendable, Hashable {
    public var head: HTTPRequestHead
    public var body: [UInt8]
    /// The client's address as the socket has it (`127.0.0.1`, or IPv6 text such as `::1`; an IPv4
    /// client of a dual-stack listener as `a.b.c.d`): for limits per
    /// client. Nil where no socket is involved (tests that build requests by hand).
    public var clientAddress: String?

    public init(head: HTTPRequestHead, body: [UInt8], clientAddress: String? = nil) {
        self.head = head
        self.body = body
        self.clientAddress = clientAddress
    }
}

import Foundation
