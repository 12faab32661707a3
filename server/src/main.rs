fn main() {
    println!("handrail {}", env!("CARGO_PKG_VERSION"));
}
