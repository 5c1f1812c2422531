// An intrusive doubly-linked list with a sentinel. A node knows the list it is in, so it can leave
// it in O(1) from anywhere and every list keeps an exact size (no allocation, nothing quadratic).
// An element is a T that derives from Node (which the list must be able to cast to T: a public
// base, or a private one with the list as a friend), so that the node needs no owner pointer.
#pragma once

#include <cstddef>

namespace ringway {

template <class T>
class IntrusiveList {
 public:
  struct Node {
    Node* prev = nullptr;
    Node* next = nullptr;
    IntrusiveList* list = nullptr;

    bool linked() const { return list != nullptr; }
    void unlink() {
      if (list == nullptr) return;
      prev->next = next;
      next->prev = prev;
      --list->size_;
      prev = next = nullptr;
      list = nullptr;
    }
  };

  IntrusiveList() { sentinel_.prev = sentinel_.next = &sentinel_; }
  ~IntrusiveList() { clear(); }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  void push_back(Node& node) {
    node.unlink();
    node.prev = sentinel_.prev;
    node.next = &sentinel_;
    sentinel_.prev->next = &node;
    sentinel_.prev = &node;
    node.list = this;
    ++size_;
  }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  T* front() const { return empty() ? nullptr : owner(sentinel_.next); }
  // Walks the list; `fn(T&)` may unlink the element it is given (not others).
  template <class Fn>
  void for_each(Fn&& fn) {
    for (Node* n = sentinel_.next; n != &sentinel_;) {
      Node* following = n->next;
      fn(*owner(n));
      n = following;
    }
  }
  // Moves every element to the end of `other`.
  void move_all_to(IntrusiveList& other) {
    while (Node* n = empty() ? nullptr : sentinel_.next) other.push_back(*n);
  }
  void clear() {
    while (!empty()) sentinel_.next->unlink();
  }

 private:
  static T* owner(Node* node) { return static_cast<T*>(node); }  // never the sentinel

  Node sentinel_;
  size_t size_ = 0;
};

}  // namespace ringway
