public import OICP

/// The EVSE and operator a session belongs to: those of its first notification.
///
/// A session happens at one EVSE for one operator, so a later notification naming another is
/// refused (`022`, naming the field) instead of being recorded: otherwise whoever wrote a
/// session first would decide whose it is, and another operator could join it.
public struct SessionOwner: Sendable, Hashable {
    public var evseID: String
    public var operatorID: String

    public init(evseID: String, operatorID: String) {
        self.evseID = evseID
        self.operatorID = operatorID
    }

    /// What in `notification` contradicts the session's first notification; empty when nothing.
    public func problems(receiving notification: ChargingNotification) -> [ValidationProblem] {
        var problems: [ValidationProblem] = []
        if !OperatorIdentity.sameEvse(notification.evseID, evseID) {
            problems.append(
                ValidationProblem(
                    pointer: "/EvseID",
                    message: "EvseID must be \(evseID), the EVSE of session \(notification.sessionID)'s first notification; got \(notification.evseID)"
                ))
        }
        if !OperatorIdentity.equivalent(notification.operatorID, operatorID) {
            problems.append(
                ValidationProblem(
                    pointer: "/OperatorID",
                    message: "OperatorID must be \(operatorID), the operator of session \(notification.sessionID)'s first notification; got \(notification.operatorID)"
                ))
        }
        return problems
    }
}
