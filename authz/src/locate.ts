import * as Y from "yjs";
import { type Denial, deny, denyMissing } from "./decision.ts";

/** Any Yjs type, as the document's own maps hold them. */
export type AnyType = NonNullable<ReturnType<Y.Doc["share"]["get"]>>;

/** A root type, named: the inspector never instantiates roots in the server's document. */
export type RootRef = { root: string };

/** The type an item is placed in: a root, or a nested type from the server's document or the update. */
export type Parent = RootRef | AnyType;

/** Where an item sits: which root, the map keys down to it, the top-level item (depth 1) above it, and its parent. */
export type Place = {
  inert: false;
  root: string;
  /** Keys from the root down to and including the item's own key (null for list children). */
  keys: (string | null)[];
  top: Ref;
  parent: Parent;
  parentSub: string | null;
};
/** An item Yjs will integrate as garbage (a neighbour or its parent is gone): it can change nothing. */
export type Inert = { inert: true };
export type Located = Place | Inert;

export type Ref = { where: "doc" | "update"; item: Y.Item };

/** Where a type sits: its root, the keys down to it, and the top-level item above it (null for a root). */
type TypePath = { root: string; keys: (string | null)[]; top: Ref | null };

const inert: Inert = { inert: true };

export const isRoot = (parent: Parent): parent is RootRef => !(parent instanceof Y.AbstractType);

/**
 * Places the structs of a canonical update the way Yjs's `Item.getMissing`
 * does: an item with a left origin takes its left neighbour's parent and key,
 * else its right neighbour's, else the parent it names; it is garbage when a
 * neighbour is garbage or its parent item is not a live type. `place` must be
 * called in integration order, so every dependency of an update struct is
 * already placed: nothing recurses, whatever the update's shape, and each
 * lookup is a binary search, so the cost follows the update, not the document.
 */
export class Placer {
  private readonly placed = new Map<Y.Item | Y.GC, Located>();
  private readonly paths = new Map<AnyType, TypePath>();

  constructor(
    private readonly doc: Y.Doc,
    private readonly updateStructs: ReadonlyMap<number, readonly (Y.Item | Y.GC)[]>,
    /** Deepest key path accepted; deeper structures are refused before they are walked further. */
    private readonly maxKeys: number,
  ) {}

  /** The struct holding `id`: in the server's document, else in the update; null when neither has it. */
  find(id: Y.ID): { where: "doc" | "update"; struct: Y.Item | Y.GC } | null {
    const { client, clock } = id;
    if (clock < Y.getState(this.doc.store, client)) {
      const structs = this.doc.store.clients.get(client) as (Y.Item | Y.GC)[];
      return { where: "doc", struct: structs[Y.findIndexSS(structs, clock)] as Y.Item | Y.GC };
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
      else return { where: "update", struct };
    }
    return null;
  }

  /** Whether a struct (of the document or the update) is or will be garbage. */
  private isGarbage(found: { where: "doc" | "update"; struct: Y.Item | Y.GC }): boolean {
    if (found.struct instanceof Y.GC) return true;
    return found.where === "update" && this.placed.get(found.struct)?.inert === true;
  }

  /** Places a struct of the update; its dependencies must have been placed (integration order). */
  place(item: Y.Item): Located | Denial {
    const result = this.resolve(item);
    if (!("ok" in result)) {
      this.placed.set(item, result);
      if (!result.inert && item.content instanceof Y.ContentType) {
        this.paths.set(item.content.type, { root: result.root, keys: result.keys, top: result.top });
      }
    }
    return result;
  }

  markGarbage(struct: Y.GC): void {
    this.placed.set(struct, inert);
  }

  /** The place of an item already in the server's document (to judge deleting it). */
  locateDocItem(item: Y.Item): Located | Denial {
    const parent = item.parent;
    if (!(parent instanceof Y.AbstractType)) return inert;
    const path = this.pathOf(parent);
    if ("ok" in path) return path;
    return this.at(path, parent, item.parentSub, { where: "doc", item });
  }

  /** The place of an update struct placed before, or null when it is not an item of the update. */
  placedOf(struct: Y.Item | Y.GC): Located | undefined {
    return this.placed.get(struct);
  }

  private resolve(item: Y.Item): Located | Denial {
    const self: Ref = { where: "update", item };
    const declared = item.parent;
    if (item.origin === null && item.rightOrigin === null) {
      if (typeof declared === "string") {
        return { inert: false, root: declared, keys: [item.parentSub], top: self, parent: { root: declared }, parentSub: item.parentSub };
      }
      if (!(declared instanceof Y.ID)) return deny("invalid_update", "an item has neither a parent nor neighbours");
      const found = this.find(declared);
      if (found === null) return denyMissing("the update refers to a parent the server does not have");
      if (this.isGarbage(found) || !(found.struct instanceof Y.Item)) return inert;
      // Yjs takes the parent item's type; an item holding no type gives none, and the child becomes garbage.
      if (!(found.struct.content instanceof Y.ContentType)) return inert;
      const type = found.struct.content.type;
      const path = this.pathOf(type);
      if ("ok" in path) return path;
      return this.at(path, type, item.parentSub, self);
    }
    const left = item.origin ? this.find(item.origin) : null;
    const right = item.rightOrigin ? this.find(item.rightOrigin) : null;
    if ((item.origin && left === null) || (item.rightOrigin && right === null)) {
      return denyMissing("the update refers to items the server does not have");
    }
    if ((left && this.isGarbage(left)) || (right && this.isGarbage(right))) return inert;
    const sibling = (left ?? right)?.struct as Y.Item;
    const place = this.placeOfSibling(sibling, left ?? right);
    if ("ok" in place || place.inert) return place;
    // Same parent and key as the sibling, so the same path; a direct child of a root is its own top.
    return { ...place, top: place.keys.length === 1 ? self : place.top };
  }

  private placeOfSibling(sibling: Y.Item, found: { where: "doc" | "update" } | null): Located | Denial {
    if (found?.where === "update") {
      const placed = this.placed.get(sibling);
      return placed ?? deny("invalid_update", "the update's items refer to each other out of order");
    }
    return this.locateDocItem(sibling);
  }

  private at(path: TypePath, parent: AnyType, parentSub: string | null, self: Ref): Place | Denial {
    if (path.keys.length + 1 > this.maxKeys) return deny("invalid_update", "the content is nested deeper than a body may be");
    return {
      inert: false,
      root: path.root,
      keys: [...path.keys, parentSub],
      top: path.top ?? self,
      parent,
      parentSub,
    };
  }

  /** Where a type sits, walking up the server's document once per type (iteratively) and remembering it. */
  private pathOf(type: AnyType): TypePath | Denial {
    const known = this.paths.get(type);
    if (known) return known;
    const chain: Y.Item[] = [];
    let current: AnyType = type;
    let base: TypePath | undefined;
    for (;;) {
      const remembered = this.paths.get(current);
      if (remembered) {
        base = remembered;
        break;
      }
      const item = current._item;
      if (item === null) {
        base = { root: Y.findRootTypeKey(current), keys: [], top: null };
        this.paths.set(current, base);
        break;
      }
      chain.push(item);
      if (chain.length > this.maxKeys) return deny("invalid_update", "the content is nested deeper than a body may be");
      const parent = item.parent;
      if (!(parent instanceof Y.AbstractType)) return deny("invalid_update", "the update writes inside garbage");
      current = parent;
    }
    let path = base;
    for (let index = chain.length - 1; index >= 0; index -= 1) {
      const item = chain[index] as Y.Item;
      path = { root: path.root, keys: [...path.keys, item.parentSub], top: path.top ?? { where: "doc", item } };
      this.paths.set((item.content as Y.ContentType).type, path);
    }
    return path;
  }
}
