fn main() -> std::process::ExitCode {
    postgate::cli::main()
}
