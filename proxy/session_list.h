// An intrusive doubly-linked list of sessions with a sentinel, so that a session can leave whatever
// list it is in in O(1) without knowing which one (no allocation, nothing quadratic).
#pragma once

#include <cstddef>

namespace ringway {

template <class T>
class IntrusiveList {
 public:
  IntrusiveList() { sentinel_.prev = sentinel_.next = &sentinel_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  struct Node {
    Node* prev = nullptr;
    Node* next = nullptr;
    T* owner = nullptr;
    bool linked() const { return next != nullptr; }
    void unlink() {
      if (!linked()) return;
      prev->next = next;
      next->prev = prev;
      prev = next = nullptr;
    }
  };

  void push_back(Node& node) {
    node.unlink();
    node.prev = sentinel_.prev;
    node.next = &sentinel_;
    sentinel_.prev->next = &node;
    sentinel_.prev = &node;
  }
  bool empty() const { return sentinel_.next == &sentinel_; }
  Node* front() { return empty() ? nullptr : sentinel_.next; }
  // Walks the list; `fn` may unlink the node it is given (not others).
  template <class Fn>
  void for_each(Fn&& fn) {
    for (Node* n = sentinel_.next; n != &sentinel_;) {
      Node* following = n->next;
      fn(n);
      n = following;
    }
  }

 private:
  Node sentinel_;
};

}  // namespace ringway
