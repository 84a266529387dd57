import * as Y from "yjs";
import { type Denial, deny } from "./decision.ts";

type Struct = Y.Item | Y.GC | Y.Skip;

/** Where an item sits: which root, the map keys down to it, and the top-level item (depth 1) above it. */
export type Place = {
  inert: false;
  root: string;
  /** Keys from the root down to and including the item's own key (null for list children). */
  keys: (string | null)[];
  top: Ref;
};
/** An item Yjs will integrate as garbage (its neighbour or parent is gone): it can change nothing. */
export type Inert = { inert: true };
export type Located = Place | Inert;

export type Ref = { where: "doc" | "update"; item: Y.Item };
type Found = Ref | { where: "gc" } | null;

const inert: Inert = { inert: true };
const cycle = deny("invalid_update", "the update's items refer to each other in a cycle");

/**
 * Resolves the position of items in an update against the server's document
 * without applying the update. Items in an update name their parent only when
 * they have no neighbours; otherwise the parent is the neighbour's parent, and
 * that neighbour may live in the server's store or earlier in the same update.
 * Each lookup is a binary search, so the cost follows the update, not the document.
 */
export class Locator {
  private readonly memo = new Map<Y.Item, Located | Denial>();

  constructor(
    private readonly doc: Y.Doc,
    private readonly updateStructs: ReadonlyMap<number, readonly (Y.Item | Y.GC)[]>,
  ) {}

  find(id: Y.ID): Found {
    const { client, clock } = id;
    if (clock < Y.getState(this.doc.store, client)) {
      const structs = this.doc.store.clients.get(client);
      if (!structs) return null;
      const struct = structs[Y.findIndexSS(structs, clock)];
      if (struct instanceof Y.Item) return { where: "doc", item: struct };
      return { where: "gc" };
    }
    const structs = this.updateStructs.get(client);
    if (!structs) return null;
    let low = 0;
    let high = structs.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const struct = structs[mid] as Y.Item | Y.GC;
      if (clock < struct.id.clock) high = mid - 1;
      else if (clock >= struct.id.clock + struct.length) low = mid + 1;
      else return struct instanceof Y.Item ? { where: "update", item: struct } : { where: "gc" };
    }
    return null;
  }

  locate(ref: Ref): Located | Denial {
    return ref.where === "doc" ? this.locateDocItem(ref.item) : this.locateUpdateItem(ref.item);
  }

  private locateDocItem(item: Y.Item): Located | Denial {
    const keys: (string | null)[] = [];
    let current = item;
    for (;;) {
      keys.push(current.parentSub);
      const parent = current.parent;
      if (!(parent instanceof Y.AbstractType)) return inert;
      const parentItem = parent._item;
      if (parentItem === null) {
        return { inert: false, root: Y.findRootTypeKey(parent), keys: keys.reverse(), top: { where: "doc", item: current } };
      }
      current = parentItem;
    }
  }

  private locateUpdateItem(item: Y.Item): Located | Denial {
    const cached = this.memo.get(item);
    if (cached) return cached;
    // A hostile update can make an item its own ancestor or neighbour; meeting an
    // item that is still being resolved means such a cycle.
    this.memo.set(item, cycle);
    const result = this.resolveUpdateItem(item);
    this.memo.set(item, result);
    return result;
  }

  private resolveUpdateItem(item: Y.Item): Located | Denial {
    const self: Ref = { where: "update", item };
    const parent = item.parent;
    if (typeof parent === "string") {
      return { inert: false, root: parent, keys: [item.parentSub], top: self };
    }
    if (parent instanceof Y.ID) {
      const found = this.find(parent);
      if (found === null) return deny("invalid_update", "the update refers to a parent the server does not have");
      if (found.where === "gc") return inert;
      if (!(found.item.content instanceof Y.ContentType)) return deny("invalid_update", "an item's parent is not a type");
      if (found.item.deleted) return inert;
      const place = this.locate(found);
      if (isDenial(place) || place.inert) return place;
      return { inert: false, root: place.root, keys: [...place.keys, item.parentSub], top: place.top };
    }
    // No explicit parent: Yjs takes it from the left neighbour, else the right one,
    // and turns the item into garbage when either neighbour is garbage.
    const left = item.origin ? this.find(item.origin) : undefined;
    const right = item.rightOrigin ? this.find(item.rightOrigin) : undefined;
    if (left === null || right === null) return deny("invalid_update", "the update refers to items the server does not have");
    if (left?.where === "gc" || right?.where === "gc") return inert;
    const sibling = left ?? right;
    if (sibling === undefined) return deny("invalid_update", "an item has neither a parent nor neighbours");
    const place = this.locate(sibling);
    if (isDenial(place) || place.inert) return place;
    return { inert: false, root: place.root, keys: place.keys, top: place.keys.length === 1 ? self : place.top };
  }
}

export const isDenial = (value: Located | Denial): value is Denial => "ok" in value;

/** Groups decoded structs by client (they arrive sorted by clock), dropping Skip placeholders. */
export const groupByClient = (structs: readonly Struct[]): Map<number, (Y.Item | Y.GC)[]> => {
  const byClient = new Map<number, (Y.Item | Y.GC)[]>();
  for (const struct of structs) {
    if (struct instanceof Y.Skip) continue;
    const list = byClient.get(struct.id.client);
    if (list) list.push(struct);
    else byClient.set(struct.id.client, [struct]);
  }
  return byClient;
};
