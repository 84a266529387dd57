import { backfillSearchText } from "@mtchat/projections";
import { beforeAll, describe, expect, test } from "vitest";
import { createDialog, tokenFor, useServer } from "./harness.ts";

/**
 * Search quality: a corpus in Russian, English, Chinese and mixed scripts, and queries with the hits a user expects.
 * Every term of a multi-word query must match (stop words such as "два" or "the" aside, as PostgreSQL drops them);
 * Chinese is matched by its words, not by a literal substring of the whole query; Russian and English are stemmed.
 */
const fixture = useServer("external", "search_quality");

const corpus = {
  zh1: "您的订单已经发货了",
  zh2: "订单号是12345，请查收",
  zh3: "发货时间是明天上午",
  zh4: "请确认收货地址",
  zh5: "我们的仓库在上海",
  zh6: "物流公司已经取件",
  zh7: "退款申请已提交",
  zh8: "这个订单取消了吗",
  zh9: "包裹在运输途中",
  zh10: "发票已经开好了",
  ru1: "Где мой заказ номер 42?",
  ru2: "Заказы отправлены сегодня утром",
  ru3: "Доставка задерживается на два дня",
  ru4: "Оплата прошла успешно",
  ru5: "Счёт выставлен клиенту вчера",
  ru6: "Склад в Москве закрыт на инвентаризацию",
  ru7: "Водитель приедет после обеда",
  ru8: "Посылка потерялась при доставке",
  en1: "Your orders have shipped today",
  en2: "The invoice is attached to this message",
  en3: "Delivery is delayed by two days",
  en4: "Payment received, thank you",
  en5: "Please confirm the shipping address",
  en6: "The warehouse in Rotterdam is closed",
  en7: "The driver will arrive after lunch",
  en8: "Refund request submitted",
  mx1: "订单 shipped via DHL",
  mx2: "请查看 invoice 附件",
  mx3: "Заказ 订单 confirmed by the warehouse",
  mx4: "Rotterdam 仓库 закрыт",
  mx5: "发货 delayed, доставка завтра",
  mx6: "Order 订单号 12345 is ready",
} as const;
type Key = keyof typeof corpus;

const cases: [query: string, expected: Key[]][] = [
  // Chinese words, alone and two at once (every term counts).
  ["订单", ["zh1", "zh2", "zh8", "mx1", "mx3", "mx6"]],
  ["发货", ["zh1", "zh3", "mx5"]],
  ["订单 发货", ["zh1"]],
  ["订单发货", ["zh1"]],
  ["订单号", ["zh2", "mx6"]],
  ["仓库", ["zh5", "mx4"]],
  ["收货地址", ["zh4"]],
  ["已经 取件", ["zh6"]],
  ["退款", ["zh7"]],
  // A Chinese word with a Latin one, and with a Cyrillic one.
  ["订单 shipped", ["mx1"]],
  ["订单 shipping", ["mx1"]],
  ["invoice 附件", ["mx2"]],
  ["заказ 订单", ["mx3"]],
  ["仓库 Rotterdam", ["mx4"]],
  ["发货 доставка", ["mx5"]],
  // Russian and English keep their stemming, and every word counts.
  ["заказы", ["ru1", "ru2", "mx3"]],
  ["доставка", ["ru3", "ru8", "mx5"]],
  ["доставка задерживается", ["ru3"]],
  ["посылка доставке", ["ru8"]],
  // "Order 订单号 12345": the English word stems like the others.
  ["orders", ["en1", "mx6"]],
  ["shipping", ["en1", "en5", "mx1"]],
  ["shipping address", ["en5"]],
  ["invoice", ["en2", "mx2"]],
  ["delayed days", ["en3"]],
  ["warehouse", ["en6", "mx3"]],
  ["warehouse closed", ["en6"]],
  ["склад москва", ["ru6"]],
  // Nothing matches every term.
  ["订单 退款", []],
  ["invoice refund", []],
  ["nothing-like-this", []],
];

let ids: Record<Key, string>;
let token: string;

beforeAll(async () => {
  const { t } = fixture;
  const dialog = await createDialog(t, ["quinn"]);
  token = await tokenFor("quinn");
  ids = {} as Record<Key, string>;
  for (const [key, content] of Object.entries(corpus) as [Key, string][]) {
    const sent = await t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${dialog.id}/messages`, { content }, token);
    expect(sent.status).toBe(201);
    ids[key] = sent.body.data.id;
  }
});

type Hit = { message_id: string; highlight: string; rank: number };
const search = async (query: string) =>
  (await fixture.t.api<{ data: { results: Hit[] } }>("GET", `/api/v1/search?limit=50&q=${encodeURIComponent(query)}`, undefined, token))
    .body.data.results;
const keyOf = (id: string) => (Object.entries(ids).find(([, value]) => value === id)?.[0] ?? id) as Key;

describe("search quality", () => {
  test("the corpus holds at least 30 messages in ru, en, zh and mixed scripts", () => {
    expect(Object.keys(corpus).length).toBeGreaterThanOrEqual(30);
  });

  test.each(cases)("%s", async (query, expected) => {
    const hits = await search(query);
    expect(hits.map((hit) => keyOf(hit.message_id)).sort()).toEqual([...expected].sort());
    // Every hit is highlighted, and ranked.
    for (const hit of hits) {
      expect(hit.highlight).toContain("<mark>");
      expect(hit.rank).toBeGreaterThan(0);
    }
  });

  test("messages projected before segmentation are backfilled and then found by their words", async () => {
    const { pool } = fixture.t.server;
    await pool.query("UPDATE messages SET search_text = NULL WHERE id = $1", [ids.zh3]);
    expect((await search("发货 明天")).map((hit) => keyOf(hit.message_id))).toEqual([]);
    expect(await backfillSearchText(pool)).toBeGreaterThanOrEqual(1);
    expect((await search("发货 明天")).map((hit) => keyOf(hit.message_id))).toEqual(["zh3"]);
    expect(await backfillSearchText(pool)).toBe(0);
  });

  test("a Chinese hit marks each query word where it stands in the original text", async () => {
    const [hit] = await search("订单 发货");
    expect(hit?.highlight).toBe("您的<mark>订单</mark>已经<mark>发货</mark>了");
    const [mixed] = await search("订单 shipped");
    expect(mixed?.highlight).toBe("<mark>订单</mark> <mark>shipped</mark> via DHL");
    const [russian] = await search("заказы");
    expect(russian).toBeDefined();
  });
});
