/**
 * The views and who may open them. Signed-out visitors go to /login (after one
 * silent try at the issuer); a prosumer opening the grid or another household
 * sees why not.
 */
import { createRouter, createWebHistory, type RouteLocationNormalized, type Router } from "vue-router";
import { messageOf } from "./lib/errors";
import { useSession } from "./stores/session";

declare module "vue-router" {
  interface RouteMeta {
    public?: boolean;
    manager?: boolean;
    title?: string;
  }
}

export function createAppRouter(): Router {
  const router = createRouter({
    history: createWebHistory(),
    routes: [
      { path: "/", name: "home", component: () => import("./views/HomeView.vue"), meta: { title: "Home" } },
      { path: "/login", name: "login", component: () => import("./views/LoginView.vue"), meta: { public: true, title: "Sign in" } },
      { path: "/callback", name: "callback", component: () => import("./views/CallbackView.vue"), meta: { public: true, title: "Signing in" } },
      { path: "/prosumer/:id", name: "prosumer", component: () => import("./views/ProsumerView.vue"), props: true, meta: { title: "My house" } },
      { path: "/manager", name: "manager", component: () => import("./views/ManagerView.vue"), meta: { manager: true, title: "Grid" } },
      { path: "/profile", name: "profile", component: () => import("./views/ProfileView.vue"), meta: { title: "Profile" } },
      { path: "/forbidden", name: "forbidden", component: () => import("./views/ForbiddenView.vue"), meta: { title: "Not allowed" } },
      { path: "/:rest(.*)*", name: "not-found", component: () => import("./views/NotFoundView.vue"), meta: { public: true, title: "Not found" } },
    ],
  });
  router.beforeEach(guard);
  router.afterEach((to) => {
    document.title = to.meta.title ? `${to.meta.title} · gridmarket` : "gridmarket";
  });
  return router;
}

export async function guard(to: RouteLocationNormalized) {
  if (to.meta.public) return true;
  const session = useSession();
  if (!session.signedIn) {
    if (await session.trySilentSignIn(to.fullPath)) return false; // the browser is on its way to the issuer
    return { name: "login", query: { returnTo: to.fullPath } };
  }
  if (!session.profile) {
    try {
      await session.loadProfile();
    } catch (exc) {
      session.error = `Your profile could not be read: ${messageOf(exc)}`;
      return { name: "login" };
    }
  }
  if (to.meta.manager && !session.isManager) {
    return { name: "forbidden", query: { what: "the grid view, which is for managers" } };
  }
  if (to.name === "prosumer" && !session.isManager && !session.houses.includes(String(to.params.id))) {
    return { name: "forbidden", query: { what: `household ${String(to.params.id)}, which is not yours` } };
  }
  return true;
}
