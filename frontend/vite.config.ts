/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// The app reads its services' URLs from /config.json, which `gridmarket serve dashboard`
// answers from its environment; nothing about the deployment is built in.
export default defineConfig({
  plugins: [vue()],
  build: { target: "es2022", chunkSizeWarningLimit: 400 },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.ts"],
    restoreMocks: true,
  },
});
