//! The `tracefold` command: parse the arguments, run, map the outcome to an
//! exit code (0 success, 1 a negative answer such as verify findings or a
//! divergent diff, 2 an error). All printing happens in the library's
//! private `cli` module (feature `cli`).

// The reduced state is many small allocations; under glibc's allocator its
// free path (malloc_consolidate) dominated the reduce profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = tracefold::__cli_main();
    std::process::exit(code);
}
