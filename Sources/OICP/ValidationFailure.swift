import Foundation

/// Why a notification body was refused: every problem found, each naming its JSON pointer.
public struct ValidationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems, in the order found; never empty.
    public let problems: [ValidationProblem]

    public init(problems: [ValidationProblem]) {
        self.problems = problems
    }

    public var description: String {
        problems.map(\.description).joined(separator: "; ")
    }
}
