fn main() -> std::process::ExitCode {
    greffier::cli::main()
}
