//! FPS + CBUI emulator.
