import { createPinia } from "pinia";
import { createApp } from "vue";
import App from "./App.vue";
import { loadConfig } from "./lib/config";
import { messageOf } from "./lib/errors";
import { createAppRouter } from "./router";
import { useSession } from "./stores/session";
import "./styles.css";

async function boot(): Promise<void> {
  const root = document.getElementById("app");
  let config;
  try {
    config = await loadConfig();
  } catch (exc) {
    if (root) {
      root.innerHTML = "";
      const message = document.createElement("p");
      message.setAttribute("role", "alert");
      message.className = "message error";
      message.textContent = `The dashboard cannot start: ${messageOf(exc)}`;
      root.append(message);
    }
    return;
  }
  const app = createApp(App);
  app.use(createPinia());
  useSession().configure(config);
  app.use(createAppRouter());
  app.mount("#app");
}

void boot();
