fn main() {
    println!("settle-reservations: not wired yet");
}
