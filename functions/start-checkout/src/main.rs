fn main() {
    println!("start-checkout: not wired yet");
}
