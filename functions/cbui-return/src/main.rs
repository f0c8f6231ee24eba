fn main() {
    println!("cbui-return: not wired yet");
}
