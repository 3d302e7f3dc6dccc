/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// The dev server proxies nothing: the dashboard reads its services' URLs from /config.json,
// which `gridmarket serve dashboard` writes from its environment (public/config.json in dev).
export default defineConfig({
  plugins: [vue()],
  server: { host: "127.0.0.1", port: 8000, strictPort: true },
  build: { target: "es2022", chunkSizeWarningLimit: 400 },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.ts"],
    restoreMocks: true,
  },
});
