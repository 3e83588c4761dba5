"""The Android side of edgekit: golden fixtures for the app's Kotlin core, the check of the app's preprocessing
against edgekit's on real images, and copying artifacts into the app's assets (sync)."""
