//! The `tracefold` command: parse the arguments, run, map the outcome to an
//! exit code (0 success, 1 a negative answer such as verify findings or a
//! divergent diff, 2 an error). All printing happens in `cli`.

fn main() {
    let code = tracefold::cli::main();
    std::process::exit(code);
}
