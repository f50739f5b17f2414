import Foundation

/// One reason a notification body was refused.
public struct ValidationProblem: Sendable, Hashable, Codable, CustomStringConvertible {
    /// RFC 6901 JSON pointer of the offending value, e.g.
    /// `"/Identification/RFIDMifareFamilyIdentification/UID"`; `""` for the whole body.
    public var pointer: String
    /// What is wrong, naming the field; received values are quoted and cut to about 40 characters.
    public var message: String

    public init(pointer: String, message: String) {
        self.pointer = pointer
        self.message = message
    }

    /// `"pointer: message"`, or just the message for the whole body.
    public var description: String {
        pointer.isEmpty ? message : pointer + ": " + message
    }
}
