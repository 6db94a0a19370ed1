//! The client's integration tests: one binary with its own harness (see harness.rs), so that
//! each test runs once per database backend against the real authbridge binary.

mod extractor;
mod harness;
mod management;
mod readme;
mod session_check;
mod unavailable;
mod wire;

fn main() -> std::process::ExitCode {
    harness::main(
        &[
            ("session_check", session_check::TESTS),
            ("management", management::TESTS),
            ("unavailable", unavailable::TESTS),
            ("extractor", extractor::TESTS),
            ("readme", readme::TESTS),
        ],
        &[("wire", wire::LOCAL_TESTS), ("readme", readme::LOCAL_TESTS)],
    )
}
