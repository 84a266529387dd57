import { MTChatPrime } from "@mtchat/vue-primevue";
import Aura from "@primeuix/themes/aura";
import PrimeVue from "primevue/config";
import { createApp, h, type Plugin } from "vue";

/** A PrimeVue 4 app with the Aura theme and `<MTChatPrime>`: `?server=<service origin>&token=<user JWT>&object=order:1001`. */
const params = new URLSearchParams(location.search);
const [objectType, objectId] = (params.get("object") ?? "order:1001").split(":");
const app = createApp({
  render: () =>
    h(MTChatPrime, {
      config: { url: params.get("server") ?? location.origin, token: params.get("token") ?? "" },
      mode: "inline",
      objectType: objectType ?? null,
      objectId: objectId ?? null,
    }),
});
// PrimeVue's packages declare no "type": under NodeNext its default export reads as the CommonJS namespace; bundlers take the ESM default.
app.use(PrimeVue as unknown as Plugin, { theme: { preset: Aura } });
app.mount("#app");
