//! The `inkling` command.

fn main() {
    if let Err(e) = inkling::kernels::init() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
