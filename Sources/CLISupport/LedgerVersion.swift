/// The ledger's version: `error-ledger --version`, `ledger_build_info`. Raised with each release
/// (semantic versioning: a migration that old binaries cannot run against raises the major).
public enum LedgerVersion {
    public static let current = "1.0.0"
}
