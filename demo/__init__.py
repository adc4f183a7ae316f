"""The demo and the local AWS emulator (moto) that the demo and the end-to-end tests share."""
