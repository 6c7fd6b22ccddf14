//! The `portcullis-console` binary; everything is in the library (see its module docs).

fn main() -> std::process::ExitCode {
    console::main()
}
